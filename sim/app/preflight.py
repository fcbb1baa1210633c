"""Checks made before anything is built or written: the command line's overrides, the
folders a run will write to, and what the run will cost.

Each check raises :class:`~sim.core.errors.ConfigError` with the key at fault, so the command
line can refuse the run with one line and exit status 2 before Hydra creates a folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sim.app.config import AppConfig
from sim.app.resources import check_resources
from sim.core.errors import ConfigError
from sim.io import owned

__all__ = [
    "check_output_folder",
    "check_output_dir",
    "check_overrides",
    "check_ownership",
    "check_run",
]


def check_overrides(overrides: Sequence[str]) -> None:
    """Refuse overrides that Hydra accepts but that would not do what they say.

    An empty mapping (``population.families={}``) is merged into the mapping it overrides,
    which leaves it unchanged.

    Raises:
        ConfigError: naming the key.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_delete() or override.is_sweep_override():
            continue
        value = override.value()
        if isinstance(value, Mapping) and not value:
            key = override.get_key_element()
            raise ConfigError(
                f"{key}: an empty mapping leaves it unchanged (Hydra merges mappings); set an "
                f"entry to 0 to drop it (e.g. {key}.<name>=0), got {{}}"
            )


def check_output_dir(path: str, key: str) -> None:
    """Refuse a folder that cannot be created and written, without creating it.

    The nearest existing ancestor must be a folder in which a file can be created (tried
    with a temporary file, removed at once: permission bits alone do not tell, e.g. in
    ``/proc`` or on a read-only mount).

    Raises:
        ConfigError: naming ``key`` and the path.
    """
    if not str(path).strip():
        raise ConfigError(f"{key}: must name a folder (empty would write into the current one)")
    folder = Path(path).expanduser().absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}: {existing} is a file, not a folder, got {str(path)!r}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        why = error.strerror or type(error).__name__
        raise ConfigError(f"{key}: cannot write in {existing} ({why}), got {str(path)!r}") from None


def check_ownership(path: str, key: str, kind: str) -> None:
    """Refuse a folder the tool may not write into as a ``kind`` folder: one that holds files
    it did not write, or its folder of another kind (:func:`sim.io.owned.problem`).

    Raises:
        ConfigError: naming ``key`` and the path.
    """
    folder = Path(path).expanduser().absolute()
    why = owned.problem(folder, kind)
    if why is not None:
        raise ConfigError(f"{key}: {folder} {why}; use a new or empty folder, got {str(path)!r}")


def check_run(app: AppConfig, *, multirun: bool) -> None:
    """Everything a run needs that its config's own checks do not see: a seed a sweep can
    derive from, and memory and time within ``limits``.

    Raises:
        ConfigError: naming the key at fault.
    """
    if multirun and app.seed is None:
        raise ConfigError(
            "seed: must be a number in a sweep (-m), whose run seeds are derived from it so "
            "that a resumed sweep reruns the same runs, got None"
        )
    check_resources(app)


def check_output_folder(cfg: DictConfig, *, multirun: bool) -> None:
    """The folder a run (``hydra.run.dir``) or a sweep (``hydra.sweep.dir``) writes to:
    writable, and new, empty or the tool's own. A sweep's is checked once, not per run.

    Raises:
        ConfigError: naming the key and the path.
    """
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    path = _resolved(cfg, key)
    check_output_dir(path, key)
    check_ownership(path, key, owned.SWEEP if multirun else owned.RUN)


def _resolved(cfg: DictConfig, key: str) -> str:
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's `now` resolver, which the default folders use
    value = OmegaConf.select(cfg, key, default="")
    return "" if value is None else os.fspath(value)
