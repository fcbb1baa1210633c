"""The plan of a sweep, known before its first run: every run's overrides and folder, and
whether the sweep may start (no two runs sharing a folder, no run folder holding files the
tool did not write). :class:`sim.app.sweep_book.SweepBook` writes it into the sweep folder;
the sensitivity sweeper records it with its design.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from sim.app import sensitivity
from sim.app.naming import SUBDIR, folder_name
from sim.io import owned

__all__ = ["plan_folders", "plans_every_run", "refusal"]


def plan_folders(config: DictConfig) -> list[tuple[list[str], str]]:
    """Every run's overrides and folder (relative to the sweep folder), named as the
    launcher will.

    Raises:
        ConfigError: for a bad sensitivity design (:mod:`sim.app.sensitivity`).
        Whatever Hydra raises for overrides that the basic sweeper cannot split.
    """
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(config.hydra.overrides.task))
    jobs = [list(o) for batch in BasicSweeper.split_arguments(parsed, None) for o in batch]
    if sensitivity.is_sensitivity(config):
        jobs = sensitivity.jobs(config, jobs)[1]
    if OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir") == SUBDIR:
        naming = config.hydra.job.config.override_dirname
        return [
            (
                overrides,
                folder_name(
                    get_overrides_dirname(
                        parser.parse_overrides(overrides),
                        exclude_keys=list(naming.exclude_keys),
                        item_sep=naming.item_sep,
                        kv_sep=naming.kv_sep,
                    )
                ),
            )
            for overrides in jobs
        ]
    loader = GlobalHydra.instance().config_loader()  # another naming: compose each run
    folders = []
    for num, overrides in enumerate(jobs):
        job = loader.load_sweep_config(config, overrides)
        with open_dict(job):
            job.hydra.job.num = num
        folders.append((overrides, str(job.hydra.sweep.subdir)))
    return folders


def plans_every_run(config: DictConfig) -> bool:
    """Whether the sweep's runs are known before the first starts: the basic sweeper's (lists,
    ranges) and the sensitivity sweeper's are; another sweeper (Optuna) chooses them as it
    goes."""
    basic = str(config.hydra.sweeper.get("_target_", "")).endswith(".BasicSweeper")
    return basic or sensitivity.is_sensitivity(config)


def refusal(config: DictConfig, plan: list[tuple[list[str], str]]) -> str | None:
    """Why the sweep must not start (``<key>: <problem>, got <value>``), or None: two runs
    whose folders are one (a later one would be skipped as done, its folder holding another
    run's results), or a run's folder that holds files the tool did not write."""
    sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
    seen: dict[str, list[str]] = {}
    for overrides, name in plan:
        folder = str((sweep_dir / name).resolve())
        if folder in seen:
            first, second = " ".join(seen[folder]), " ".join(overrides)
            what = (
                "the same run twice (repeated values)"
                if first == second
                else "runs whose folder names are the same"
            )
            subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
            return (
                f"hydra.sweep.subdir: {what}: {first!r} and {second!r} would share the folder "
                f"{sweep_dir / name}; every run needs its own folder, got {subdir!r}"
            )
        seen[folder] = overrides
        why = owned.problem(sweep_dir / name, owned.RUN)
        if why is not None:
            return (
                f"hydra.sweep.dir: the folder of the run {' '.join(overrides)!r}, "
                f"{sweep_dir / name}, {why}; use a new or empty sweep folder, "
                f"got {str(config.hydra.sweep.dir)!r}"
            )
    return None
