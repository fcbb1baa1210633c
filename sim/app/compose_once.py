"""A single run composes its config once, not three times.

Left alone, a run's config is composed three times: by the command line's gate before any
folder (:func:`sim.app.validation.check_command_line`), by Hydra to find the run mode, and
by Hydra for the run; each composition costs about a tenth of a default run. Within
:func:`composed_once`, Hydra's config loader remembers a run's composition by (config
name, overrides) and answers the same request again with a deep copy of it, so Hydra gets
the tree it would have composed itself: the same ``.hydra/`` files, overrides, logging,
callbacks and folder names (a resolver such as ``${unique_stamp:}`` is resolved afresh in
each copy, as in each composition before).

This is the one place that replaces a method of Hydra's internals; without the method and
signature it relies on (another Hydra version), it keeps Hydra's own way, and
``tests/test_compose_once.py`` fails loudly.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ["LOADER_PARAMETERS", "composed_once", "single_run"]

#: The parameters of Hydra's ``ConfigLoaderImpl.load_configuration`` this module relies on.
LOADER_PARAMETERS = (
    "self",
    "config_name",
    "overrides",
    "run_mode",
    "from_shell",
    "validate_sweep_overrides",
)

#: Flags after which Hydra does something other than one run (or composes another config).
_NOT_A_RUN = ("help", "hydra_help", "cfg", "info", "shell_completion", "multirun",
              "experimental_rerun", "config_path", "config_name", "config_dir")  # fmt: skip


def single_run(argv: Sequence[str]) -> list[str] | None:
    """``argv`` (Hydra's command line) with ``hydra.mode=RUN`` added when it asks for one
    run, else None (help, ``--cfg``, a sweep, or a mode the overrides choose).

    Hydra adds the same override itself when the config sets no mode, but only after it has
    composed the config once to find that out; given up front, every composition of the
    run has the same overrides and :func:`composed_once` composes it once.
    """
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(list(argv))
    if any(getattr(args, flag, None) for flag in _NOT_A_RUN):
        return None
    if any(o.lstrip("+~").split("=", 1)[0] == "hydra.mode" for o in args.overrides):
        return None
    return [*argv, "hydra.mode=RUN"]


@contextmanager
def composed_once() -> Iterator[None]:
    """Within: each (config name, overrides) of a run (``RunMode.RUN``) is composed once;
    asked for again, in either mode, Hydra's config loader returns a deep copy of it.

    A run's composition stands for the sweep mode's too: the two differ only in the checks
    a run makes (no sweep override, no missing group default), which it passed.
    """
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.types import RunMode

    original = ConfigLoaderImpl.load_configuration
    signature = inspect.signature(original)
    if tuple(signature.parameters) != LOADER_PARAMETERS:
        yield
        return
    made: dict[tuple, object] = {}

    def load_configuration(self, *args, **kwargs):
        asked = signature.bind(self, *args, **kwargs).arguments
        key = (asked["config_name"], tuple(asked["overrides"]))
        if key in made:
            return copy.deepcopy(made[key])
        cfg = original(self, *args, **kwargs)
        if asked["run_mode"] == RunMode.RUN:
            made[key] = copy.deepcopy(cfg)  # kept as composed: Hydra changes the one it gets
        return cfg

    ConfigLoaderImpl.load_configuration = load_configuration
    try:
        yield
    finally:
        ConfigLoaderImpl.load_configuration = original
