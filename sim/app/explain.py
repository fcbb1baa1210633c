"""One-line explanations of configuration errors: Hydra's and OmegaConf's exceptions, and keys
that the schema does not know.

Every message has the form ``<key>: <problem>, got <value>`` (the form of
:class:`~sim.core.errors.ConfigError`), so that a user sees which key to fix, what was given
and what is allowed, whichever layer refused it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import typing
from collections.abc import Mapping

from sim.core.errors import ConfigError, ProfileError
from sim.core.secrets import redact_item

__all__ = ["check_known_keys", "explain", "unknown_key"]

#: OmegaConf's type names in its conversion messages, as a user would say them.
_TYPES = {
    "Integer": "a whole number",
    "Float": "a number",
    "Boolean": "true or false",
    "String": "a string",
}

#: Names a user may guess for a key, which no spelling distance finds.
_SYNONYMS = {
    f"population.{name}": "population.n_agents"
    for name in ("size", "n", "count", "agents", "models", "n_models", "fleet_size")
}


def explain(error: BaseException, schema: type) -> str:
    """The one-line message for an error raised while composing or validating a config
    whose root dataclass is ``schema``."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        InterpolationResolutionError,
        ValidationError,
    )

    if isinstance(error, ConfigError | ProfileError):
        return str(error)
    causes = _chain(error)
    for cause in causes:
        if isinstance(cause, MissingConfigException) and cause.missing_cfg_file:
            group, _, option = cause.missing_cfg_file.rpartition("/")
            if cause.options is None:
                return f"{group or option}: no such config, got {option!r}"
            options = ", ".join(cause.options)
            return f"{group}: unknown option (options: {options}), got {option!r}"
        if isinstance(cause, ConfigKeyError | ConfigAttributeError) and cause.full_key:
            # Hydra's message names the whole key of the override; OmegaConf's, its first part.
            named = re.search(r"Could not override '([^']+)'", str(error))
            return str(unknown_key(named.group(1) if named else cause.full_key, schema))
        if isinstance(cause, InterpolationResolutionError):
            first = str(cause).splitlines()[0]
            return f"{cause.full_key}: cannot resolve an interpolation ({first})"
        if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
            shown = redact_item(cause.full_key, cause.value)
            return f"{cause.full_key}: {_problem(cause)}, got {shown!r}"
    lines = [str(c).strip().splitlines()[0] for c in causes if str(c).strip()]
    return "; ".join(dict.fromkeys(lines)) or type(error).__name__


def _chain(error: BaseException) -> list[BaseException]:
    found = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def _problem(error: BaseException) -> str:
    text = str(error).splitlines()[0]
    converted = re.search(r"could not be converted to (\w+)", text)
    if converted:
        return f"expected {_TYPES.get(converted.group(1), converted.group(1))}"
    if "is not Optional" in text:
        return "must not be null"
    assigned = re.match(r"Cannot assign (\w+) to (.+)", text)
    if assigned:
        return f"expected {assigned.group(2)}, not a {assigned.group(1)}"
    return text


def check_known_keys(config: Mapping, schema: type) -> None:
    """Refuse any key of ``config`` (a plain nested mapping) that ``schema`` (a dataclass,
    nested) does not declare. Fields typed as mappings or ``Any`` take any keys.

    Raises:
        ConfigError: naming the first unknown key, with the closest known key if any.
    """
    for key, value in _unknown(config, schema):
        raise unknown_key(key, schema, value)


def _unknown(config: Mapping, schema: type, prefix: str = ""):
    """``(full key, value)`` of each leaf under a key that ``schema`` does not declare."""
    fields = {f.name for f in dataclasses.fields(schema)}
    for name, value in config.items():
        key = f"{prefix}{name}"
        inner = _dataclass_of(schema, name) if name in fields else None
        if name not in fields:
            yield from _leaves(key, value)
        elif inner is not None and isinstance(value, Mapping):
            yield from _unknown(value, inner, key + ".")


def _leaves(key: str, value: object):
    if isinstance(value, Mapping) and value:
        for name, inner in value.items():
            yield from _leaves(f"{key}.{name}", inner)
    else:
        yield key, value


def unknown_key(full_key: str, schema: type, value: object = None) -> ConfigError:
    """The error for ``full_key``, which ``schema`` does not declare: it names the closest
    known key of the same depth ("did you mean ...?"), or lists the keys known where it
    went wrong."""
    known = _known_keys(schema)
    parts = full_key.split(".")
    same_depth = sorted(k for k in known if k.count(".") == full_key.count("."))
    # The longest known prefix is the group in which the key went wrong.
    depth = next(i for i in range(len(parts) - 1, -1, -1) if i == 0 or ".".join(parts[:i]) in known)
    group = ".".join(parts[:depth])
    siblings = [k for k in same_depth if k.rpartition(".")[0] == group]
    leaves = {k.rpartition(".")[2]: k for k in siblings}
    near = difflib.get_close_matches(full_key, same_depth, n=1, cutoff=0.8)
    near = near or [leaves[n] for n in difflib.get_close_matches(parts[-1], leaves, 1, 0.6)]
    near = near or [s for s in [_SYNONYMS.get(full_key)] if s]
    if near:
        hint = f"did you mean {near[0]}?"
    else:
        names = ", ".join(k.rpartition(".")[2] for k in siblings)
        hint = f"known in {group or 'the root'}: {names}"
    got = "" if value is None else f", got {redact_item(full_key, value)!r}"
    return ConfigError(f"{full_key}: unknown key ({hint}){got}")


def _known_keys(schema: type, prefix: str = "") -> set[str]:
    keys = set()
    for field in dataclasses.fields(schema):
        key = prefix + field.name
        keys.add(key)
        inner = _dataclass_of(schema, field.name)
        if inner is not None:
            keys |= _known_keys(inner, key + ".")
    return keys


def _dataclass_of(schema: type, name: str) -> type | None:
    hint = _type_hints(schema).get(name)
    return hint if dataclasses.is_dataclass(hint) else None


@functools.cache
def _type_hints(schema: type) -> dict[str, object]:
    # Cached: a check of a config asks once per field, and each call evaluates every
    # annotation of the class again (a third of validating a config).
    return typing.get_type_hints(schema)
