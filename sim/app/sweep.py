"""Sweeps (``python -m sim -m ...``) that can be resumed and never lose a run.

- **Folders**: each run's folder is named by its own overrides (``hydra.job.override_dirname``
  through :func:`folder_name`), so the same run always lands in the same folder.
- **Seeds**: each run's seed is :func:`derive_seed` of the base ``seed``, the run's
  parameter overrides and its ``replicate`` index, never its job number.
- **Resume**: a run whose folder verifies (:func:`sim.io.outputs.verify_run`) is skipped. A
  folder that does not verify is cleared of its files (Hydra's ``.hydra/`` and log excepted)
  and the run starts again.
- **Failures**: a run that raises writes ``failed.json`` (exception, traceback, overrides)
  and the sweep goes on. :class:`SweepBook` lists the failed runs at the end and exits 1.
- **Progress**: after each run, a line counts the runs done, skipped, failed and left, read
  from the sweep folder, so it holds with parallel launchers too.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.io.outputs import DONE, verify_run, write_json

__all__ = [
    "FAILED",
    "PLAN",
    "SEED_EXCLUDED",
    "SweepBook",
    "SweepJob",
    "current_job",
    "derive_seed",
    "folder_name",
    "parameters",
    "run_job",
    "seed_key",
]

#: Written in a run folder when the run raised.
FAILED = "failed.json"
#: Written in the sweep folder before the first run: every run's folder, and those skipped.
PLAN = "sweep.json"
#: Override keys that do not go into a run's seed: the seed itself, the replicate index
#: (both enter separately) and settings that change no result.
SEED_EXCLUDED = frozenset({"seed", "replicate", "progress", "figures"})
#: Testing hook: a run whose overrides include this variable's value raises at run time.
FAIL_ENV = "PEERSIM_SWEEP_FAIL"
#: Longer folder names are cut and end with a hash of the whole name (file systems allow 255).
MAX_NAME = 200
#: Files a broken run folder keeps when it is cleared: Hydra writes them before the run.
KEPT = frozenset({".hydra", "cli.log"})


def folder_name(override_dirname: str) -> str:
    """A run's folder name from its ``override_dirname`` (the resolver ``sweep_folder``).

    ``%`` and ``/`` are escaped (``%25``, ``%2F``) so a value with a path stays one folder,
    no overrides at all give ``defaults``, and a name longer than :data:`MAX_NAME` bytes is
    cut and ends with the first 16 hex digits of its SHA-256.
    """
    name = str(override_dirname).replace("%", "%25").replace("/", "%2F") or "defaults"
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name.encode()) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = name.encode()[: MAX_NAME - 17].decode(errors="ignore") + "-" + digest
    return name


if not OmegaConf.has_resolver("sweep_folder"):
    OmegaConf.register_new_resolver("sweep_folder", folder_name)


def parameters(overrides: Sequence[str]) -> list[str]:
    """A run's parameter overrides, canonical and sorted: ``key=value`` as Hydra re-prints
    the value, without the keys of :data:`SEED_EXCLUDED` and Hydra's own."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key in SEED_EXCLUDED or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        found.append(f"{override.get_key_element()}={override.get_value_element_as_str()}")
    return sorted(found)


def seed_key(base_seed: int, overrides: Sequence[str], replicate: int) -> str:
    """The canonical string a run's seed is hashed from (compact JSON, sorted keys)."""
    record = {"parameters": parameters(overrides), "replicate": replicate, "seed": base_seed}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def derive_seed(base_seed: int, overrides: Sequence[str], replicate: int) -> int:
    """A run's seed in a sweep: the first 8 bytes of the SHA-256 of :func:`seed_key`, as a
    big-endian integer, modulo 2**31. It depends on the base seed, the run's parameters and
    replicate index, and on nothing else (not on job order or launcher)."""
    digest = hashlib.sha256(seed_key(base_seed, overrides, replicate).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 2**31


@dataclass(frozen=True)
class SweepJob:
    """One run of a sweep, as its task function sees it."""

    folder: Path
    sweep_dir: Path
    overrides: tuple[str, ...]
    base_seed: int
    replicate: int

    @property
    def seed(self) -> int:
        return derive_seed(self.base_seed, self.overrides, self.replicate)

    def provenance(self) -> dict:
        """What the manifest records about the run's place in the sweep."""
        return {
            "sweep": {
                "base_seed": self.base_seed,
                "replicate": self.replicate,
                "parameters": parameters(self.overrides),
                "overrides": list(self.overrides),
                "seed": self.seed,
                "seed_rule": "sha256(seed_key)[:8] big-endian mod 2**31",
                "seed_key": seed_key(self.base_seed, self.overrides, self.replicate),
            }
        }


def current_job(base_seed: int, replicate: int) -> SweepJob | None:
    """The running Hydra job, when it is one run of a multirun; None for a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return SweepJob(
        folder=Path(hydra_cfg.runtime.output_dir),
        sweep_dir=Path(hydra_cfg.sweep.dir),
        overrides=tuple(hydra_cfg.overrides.task),
        base_seed=base_seed,
        replicate=replicate,
    )


def clear(folder: Path) -> None:
    """Remove what an unfinished or failed run left in ``folder`` (partial files included),
    keeping Hydra's ``.hydra/`` and the log."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in KEPT and (path.is_file() or path.is_symlink()):
            path.unlink(missing_ok=True)


def run_job(job: SweepJob, work: Callable[[], Any]) -> Any:
    """Run ``work()`` as one run of a sweep: skip it if its folder verifies, else clear the
    folder and run; record an exception in ``failed.json`` instead of raising it. Prints
    the sweep's progress after the run."""
    if verify_run(job.folder):
        _print(f"[sweep] skipped {job.folder.name}: already done")
        _print(progress(job.sweep_dir))
        return None
    clear(job.folder)
    try:
        injected = os.environ.get(FAIL_ENV)
        if injected and injected in job.overrides:
            raise RuntimeError(f"failure injected by {FAIL_ENV}={injected}")
        result = work()
    except Exception as error:
        record_failure(job, error)
        print(f"[sweep] FAILED {job.folder.name}: {type(error).__name__}: {error}",
              file=sys.stderr, flush=True)  # fmt: skip
        _print(progress(job.sweep_dir))
        return None
    _print(progress(job.sweep_dir))
    return result


def record_failure(job: SweepJob, error: BaseException) -> None:
    """Write ``failed.json`` atomically (the run's files are removed first)."""
    clear(job.folder)
    job.folder.mkdir(parents=True, exist_ok=True)
    write_json(
        job.folder / FAILED,
        {
            "exception": type(error).__name__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error)),
            "overrides": list(job.overrides),
            "seed": job.seed,
        },
    )


def _print(line: str) -> None:
    if line:
        print(line, flush=True)


# ----------------------------------------------------------------------------- the plan


def read_plan(sweep_dir: Path) -> dict | None:
    try:
        plan = json.loads((Path(sweep_dir) / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) and isinstance(plan.get("runs"), list) else None


def status(sweep_dir: Path) -> dict[str, list[str]] | None:
    """The planned runs by state, from the folder: ``done`` (marker present), ``failed``
    (``failed.json``, no marker), ``left``, and ``skipped`` (done before the sweep began)."""
    plan = read_plan(sweep_dir)
    if plan is None:
        return None
    found: dict[str, list[str]] = {"done": [], "failed": [], "left": []}
    for name in plan["runs"]:
        folder = Path(sweep_dir) / name
        if (folder / DONE).exists():
            found["done"].append(name)
        elif (folder / FAILED).exists():
            found["failed"].append(name)
        else:
            found["left"].append(name)
    found["skipped"] = list(plan.get("skipped", []))
    return found


def progress(sweep_dir: Path) -> str:
    """``[sweep] 7/12 done (2 skipped, 1 failed, 5 left)``: done counts every finished run,
    skipped and failed ones included."""
    found = status(sweep_dir)
    if found is None:
        return ""
    total = sum(len(found[k]) for k in ("done", "failed", "left"))
    finished = len(found["done"]) + len(found["failed"])
    return (
        f"[sweep] {finished}/{total} done ({len(found['skipped'])} skipped, "
        f"{len(found['failed'])} failed, {len(found['left'])} left)"
    )


#: The default ``hydra.sweep.subdir``, whose folders :func:`plan_folders` computes without
#: composing each run's config.
SUBDIR = "${sweep_folder:${hydra.job.override_dirname}}"


def plan_folders(config: DictConfig) -> list[str]:
    """Every run's folder (relative to the sweep folder), named as the launcher will.

    Raises:
        Whatever Hydra raises for overrides that the basic sweeper cannot split.
    """
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(config.hydra.overrides.task))
    jobs = [list(o) for batch in BasicSweeper.split_arguments(parsed, None) for o in batch]
    if OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir") == SUBDIR:
        naming = config.hydra.job.config.override_dirname
        return [
            folder_name(
                get_overrides_dirname(
                    parser.parse_overrides(overrides),
                    exclude_keys=list(naming.exclude_keys),
                    item_sep=naming.item_sep,
                    kv_sep=naming.kv_sep,
                )
            )
            for overrides in jobs
        ]
    loader = GlobalHydra.instance().config_loader()  # another naming: compose each run
    folders = []
    for num, overrides in enumerate(jobs):
        job = loader.load_sweep_config(config, overrides)
        with open_dict(job):
            job.hydra.job.num = num
        folders.append(str(job.hydra.sweep.subdir))
    return folders


class SweepBook(Callback):
    """Keeps the books of a sweep: the plan before it, the failed runs after it.

    Before the first run, writes :data:`PLAN` in the sweep folder (every run's folder and
    those that already verify, which will be skipped) and removes stale ``failed.json``
    files of runs that will run again. At the end, lists the failed runs and exits 1.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        try:
            folders = plan_folders(config)
        except Exception as error:  # another sweeper's grammar: no plan, no totals
            print(f"[sweep] no plan ({type(error).__name__}: {error})", file=sys.stderr)
            (sweep_dir / PLAN).unlink(missing_ok=True)
            return
        folders = list(dict.fromkeys(folders))
        skipped = [name for name in folders if verify_run(sweep_dir / name)]
        for name in folders:
            if name not in skipped:
                (sweep_dir / name / FAILED).unlink(missing_ok=True)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_json(sweep_dir / PLAN, {"runs": folders, "skipped": skipped})
        print(
            f"[sweep] {len(folders)} runs in {sweep_dir}: {len(skipped)} already done "
            f"(skipped), {len(folders) - len(skipped)} to run",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        found = status(sweep_dir)
        if found is None:
            failed = sorted(str(p.parent.relative_to(sweep_dir)) for p in sweep_dir.rglob(FAILED))
        else:
            failed = found["failed"]
            _print(progress(sweep_dir))
        if not failed:
            return
        lines = [f"[sweep] {len(failed)} run(s) failed (see failed.json in each folder):"]
        for name in failed:
            try:
                record = json.loads((sweep_dir / name / FAILED).read_text(encoding="utf-8"))
                why = f"{record['exception']}: {record['message']}"
            except (OSError, ValueError, KeyError, TypeError):
                why = "unreadable failed.json"
            lines.append(f"  {sweep_dir / name}  {why}")
        print("\n".join(lines), file=sys.stderr, flush=True)
        sys.exit(1)
