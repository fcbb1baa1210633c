"""Self-validating parameter groups: the base class and its type checks.

A group is a dataclass whose fields are type-checked from their annotations on
construction, then range-checked by its ``validate``; every failure is a
:class:`~sim.core.errors.ConfigError` that names the full key (``group.field``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping

from sim.core.errors import ConfigError
from sim.core.secrets import redact_item

__all__ = ["MAX_SEED", "Config", "check_seed", "coerce_config"]


class Config:
    """Base: type-checks every field from its annotation, then runs ``validate``."""

    GROUP = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if isinstance(getattr(self, f.name), os.PathLike):
                setattr(self, f.name, os.fspath(getattr(self, f.name)))
            _check_type(self.key(f.name), getattr(self, f.name), hints[f.name])
        self.validate()

    def key(self, name: str) -> str:
        return f"{self.GROUP}.{name}"

    def validate(self) -> None:
        """Range and choice checks; overridden by each group."""

    def fail(self, name: str, problem: str) -> typing.NoReturn:
        """Raise the :class:`ConfigError` for field ``name``: ``problem``, and the value
        as :func:`~sim.core.secrets.redact_item` shows it."""
        raise ConfigError(
            f"{self.key(name)}: {problem}, got {redact_item(name, getattr(self, name))!r}"
        )

    def require_range(self, name: str, lo: float, hi: float = math.inf) -> None:
        value = getattr(self, name)
        if not lo <= value <= hi:
            bound = f">= {lo}" if hi == math.inf else f"in [{lo}, {hi}]"
            self.fail(name, f"must be {bound}")

    def require_choice(self, name: str, choices: tuple[str, ...]) -> None:
        if getattr(self, name) not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}")


def _check_type(key: str, value: object, hint: object) -> None:
    if hint is typing.Any:  # the group's own validate checks it
        return
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is dict:
        ok = isinstance(value, Mapping) and all(
            isinstance(k, str)
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            for k, v in value.items()
        )
    elif origin is list:
        (item,) = typing.get_args(hint)
        ok = isinstance(value, list | tuple) and all(
            isinstance(v, item) and not isinstance(v, bool) for v in value
        )
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"unsupported annotation {hint} for {key}")
    if not ok:
        name = getattr(hint, "__name__", str(hint))
        raise ConfigError(f"{key}: expected {name}, got {value!r}")


def coerce_config(cls: type[Config], value: object) -> Config:
    """Return ``value`` as an instance of ``cls``: None gives defaults, a mapping its fields.

    Raises:
        ConfigError: on an unknown key (named with its group) or any invalid value.
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        value.__post_init__()  # fields may have been changed since construction
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{cls.GROUP}: expected a mapping or {cls.__name__}, got {value!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in value:
        if key not in known:
            raise ConfigError(
                f"{cls.GROUP}.{key}: unknown parameter (known: {', '.join(sorted(known))})"
            )
    return cls(**dict(value))


#: Seeds are stored as 64-bit integers (Parquet tables of a sweep), so they stop below 2**63.
MAX_SEED = 2**63 - 1


def check_seed(seed: object) -> None:
    """A seed is a whole number in [0, 2**63 - 1], or None for fresh entropy.

    Raises:
        ConfigError: naming ``seed``.
    """
    if seed is None:
        return
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed: must be a whole number in [0, 2**63 - 1] or null, got {seed!r}")
