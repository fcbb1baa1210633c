"""The gate before any run: a config that cannot run is refused with one line naming the key,
the value and what is allowed, exit status 2, before Hydra creates a folder.

Two places hold the gate. :func:`check_command_line` composes the command line's config as
Hydra will, so Hydra's own errors (a wrong type, an unknown group option) get the same one
line, and checks a single run completely. :class:`ValidateBeforeRun`, a Hydra callback that
``conf/config.yaml`` installs, checks every run of a sweep before the first one starts.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sim.app.config import CONF_DIR, AppConfig, validate
from sim.app.explain import explain
from sim.app.preflight import check_output_folder, check_overrides, check_run
from sim.core.errors import ConfigError, ProfileError
from sim.core.secrets import redact, redact_override, take_out
from sim.core.text import printable
from sim.engines.llm.preflight import preflight

__all__ = ["ValidateBeforeRun", "check_command_line", "validate_or_exit"]

T = TypeVar("T")

#: The job name Hydra gives the command line's run: the module of its ``@hydra.main``
#: function, :mod:`sim.app.cli`. The gate composes under the same name, so that its
#: composition is the run's (:mod:`sim.app.compose_once`).
JOB_NAME = "cli"

#: Command-line flags after which Hydra runs nothing, or composes another config: not gated.
_NOT_GATED = ("help", "hydra_help", "info", "shell_completion", "experimental_rerun",
              "config_path", "config_name", "config_dir")  # fmt: skip


class ValidateBeforeRun(Callback):
    """Validate the config of every run before Hydra creates its folder.

    Hydra turns a callback's exceptions into warnings and goes on, so a bad config ends the
    process here, with the message naming the key and exit status 2.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        validate_or_exit(lambda: config, multirun=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.global_hydra import GlobalHydra
        from hydra.core.override_parser.overrides_parser import OverridesParser

        _or_exit(lambda: check_output_folder(config, multirun=True))
        parsed = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        loader = GlobalHydra.instance().config_loader()
        for batch in BasicSweeper.split_arguments(parsed, None):
            for overrides in batch:
                validate_or_exit(
                    lambda o=overrides: loader.load_sweep_config(config, list(o)),
                    overrides,
                    multirun=True,
                )


def validate_or_exit(
    load: Callable[[], DictConfig], overrides: Sequence[str] = (), *, multirun: bool
) -> AppConfig:
    """Compose (``load()``), validate and check one run's config; on failure print why on
    stderr, naming the run of a sweep, and exit with status 2."""

    def check() -> AppConfig:
        check_overrides(overrides)
        cfg = load()
        app = validate(cfg)
        check_run(app, multirun=multirun)
        if not multirun:  # a sweep's folder is checked once, before its runs
            check_output_folder(cfg, multirun=False)
        preflight(app)  # a real model's key and server
        return app

    shown = " ".join(redact_override(o) for o in overrides)
    job = f" (in the run with {shown})" if multirun and overrides else ""
    return _or_exit(check, job)


def _or_exit(check: Callable[[], T], job: str = "") -> T:
    """``check()``; on a config error, print why (``job`` names the run of a sweep) and exit 2."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return check()
    except (ConfigError, ProfileError, HydraException, OmegaConfBaseException) as error:
        print(
            printable(redact(f"Invalid config{job}: {explain(error, AppConfig)}")), file=sys.stderr
        )
        sys.exit(2)


def check_command_line(argv: Sequence[str]) -> list[str]:
    """Compose the config of ``argv`` (Hydra's command line) as Hydra will and refuse it,
    exit 2, when it does not compose or, for a single run, does not validate. A sweep's
    runs are checked one by one by :class:`ValidateBeforeRun` (its base config alone may
    not be a valid run).

    Returns:
        ``argv`` with the credential of every URL taken out
        (:func:`~sim.core.secrets.take_out`): the command line to give Hydra.
    """
    from hydra import initialize_config_dir
    from hydra._internal.utils import get_args_parser
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    argv = _or_exit(lambda: take_out(argv))
    args, _ = get_args_parser().parse_known_args(argv)
    if any(getattr(args, flag, None) for flag in _NOT_GATED):
        return argv
    mode = RunMode.MULTIRUN if args.multirun else RunMode.RUN

    def load() -> DictConfig:
        with initialize_config_dir(str(CONF_DIR), job_name=JOB_NAME, version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            return loader.load_configuration("config", list(args.overrides), mode)

    if args.multirun:
        _or_exit(load)
    else:
        validate_or_exit(load, args.overrides, multirun=False)
    return argv
