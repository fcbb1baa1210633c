"""The books of a sweep: its plan before the first run, its count and failures after the last.

:class:`SweepBook` is the Hydra callback ``conf/config.yaml`` installs. Before the first run
it refuses a sweep two of whose runs share a folder, or one of whose run folders holds files
the tool did not write (:mod:`sim.app.sweep_plan`, exit 2); then it marks the sweep folder
as the tool's (:mod:`sim.io.owned`) and writes :data:`PLAN` in it (every run's folder, and those
already done, which will be skipped), under the sweep folder's lock. At the end it prints,
once, what the sweep command did, counted from the sweep folder (so it holds with parallel
launchers, and with another sweep command working in the same folder)::

    [sweep] 8/8 done: 1 computed, 7 skipped (already done), 0 failed, 0 left

``computed``: the runs whose manifest names this command (``sweep.computed_by``, see
:mod:`sim.app.sweep`); ``skipped``: the other finished runs (done before this command
reached them, by an earlier command or another one running now). Runs that another process
was computing when this command's jobs reached them (and skipped them) are waited for before
the count. Then it warns, in one line, if finished runs rest mostly on assumed profile cells
(the jobs themselves print one line each), lists the runs missing and failed, and exits 1
if there are any.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sim.app.sweep import SWEEP_ID
from sim.app.sweep_plan import plan_folders, plans_every_run, refusal
from sim.core.errors import ConfigError
from sim.core.text import printable
from sim.io import locks, owned
from sim.io.outputs import DONE, FAILED, verify_run, write_json

__all__ = ["PLAN", "SweepBook", "computed_by", "count", "held", "progress"]

#: Written in the sweep folder before the first run: every run's folder, and those skipped.
PLAN = "sweep.json"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"
#: The states a planned run is counted in, in the order of the progress line.
STATES = ("computed", "skipped", "failed", "left")


def computed_by(folder: Path) -> str | None:
    """The sweep command that computed the run in ``folder``, from its manifest."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["sweep"]["computed_by"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def count(sweep_dir: Path, runs: list[str], sweep_id: str | None) -> dict[str, list[str]]:
    """The ``runs`` by state (:data:`STATES`), read from the sweep folder: finished ones
    (``done`` marker) are ``computed`` if their manifest names ``sweep_id``, else
    ``skipped``; ``failed`` ones hold ``failed.json``; the rest are ``left``."""
    found: dict[str, list[str]] = {state: [] for state in STATES}
    for name in runs:
        folder = sweep_dir / name
        if (folder / DONE).exists():
            mine = sweep_id is not None and computed_by(folder) == sweep_id
            found["computed" if mine else "skipped"].append(name)
        elif (folder / FAILED).exists():
            found["failed"].append(name)
        else:
            found["left"].append(name)
    return found


def progress(found: dict[str, list[str]]) -> str:
    """``[sweep] 8/8 done: 1 computed, 7 skipped (already done), 0 failed, 0 left``: done
    counts the computed and the skipped runs, out of every planned run."""
    n = {state: len(found[state]) for state in STATES}
    return (
        f"[sweep] {n['computed'] + n['skipped']}/{sum(n.values())} done: {n['computed']} "
        f"computed, {n['skipped']} skipped (already done), {n['failed']} failed, "
        f"{n['left']} left"
    )


class SweepBook(Callback):
    """Keeps the books of a sweep: the plan before it, the count and failed runs after it
    (see the module docstring)."""

    def __init__(self) -> None:
        self.runs: list[str] | None = None  # the plan's folders; None without a plan
        self.sweep_id: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        # Resolved here, in the command's own config: the stamp is then in the cache Hydra
        # copies into every job's config, so the jobs record this very id.
        self.sweep_id = config.hydra.job.env_set.get(SWEEP_ID)
        if not plans_every_run(config):  # e.g. Optuna: it chooses its runs as it goes
            with locks.hold(sweep_dir, locks.SWEEP_LOCK):
                owned.claim(sweep_dir, owned.SWEEP)
                (sweep_dir / PLAN).unlink(missing_ok=True)
            print(f"[sweep] {sweep_dir}: runs chosen by the sweeper as it goes (no plan, no "
                  "count)", flush=True)  # fmt: skip
            return
        try:
            plan = plan_folders(config)
        except ConfigError as error:
            print(printable(f"Invalid config: {error}"), file=sys.stderr)
            sys.exit(2)
        except Exception as error:  # overrides the plan cannot split: no plan, no totals
            print(printable(f"[sweep] no plan ({type(error).__name__}: {error})"), file=sys.stderr)
            (sweep_dir / PLAN).unlink(missing_ok=True)
            return
        refused = refusal(config, plan)
        if refused is not None:  # before any folder is made (Hydra ignores exceptions here)
            print(printable(f"Invalid config: {refused}"), file=sys.stderr)
            sys.exit(2)
        self.runs = [name for _, name in plan]

        def wait() -> None:
            print(f"[sweep] waiting for another process writing the plan of {sweep_dir}",
                  flush=True)  # fmt: skip

        with locks.hold(sweep_dir, locks.SWEEP_LOCK, on_wait=wait):
            owned.claim(sweep_dir, owned.SWEEP)
            skipped = [name for name in self.runs if verify_run(sweep_dir / name)]
            running = [n for n in self.runs if n not in skipped and held(sweep_dir / n)]
            for name in self.runs:
                if name not in skipped and (sweep_dir / name / FAILED).exists():
                    _drop_failure(sweep_dir / name)
            write_json(sweep_dir / PLAN, {"runs": self.runs, "skipped": skipped})
        elsewhere = f", {len(running)} being computed by another process" if running else ""
        print(
            f"[sweep] {len(self.runs)} runs in {sweep_dir}: {len(skipped)} already done "
            f"(skipped){elsewhere}, {len(self.runs) - len(skipped) - len(running)} to run",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if self.runs is None:
            failed = sorted(str(p.parent.relative_to(sweep_dir)) for p in sweep_dir.rglob(FAILED))
        else:
            found = count(sweep_dir, self.runs, self.sweep_id)
            if found["left"] and _wait_for_others(sweep_dir, found["left"]):
                found = count(sweep_dir, self.runs, self.sweep_id)
            print(progress(found), flush=True)
            _warn_assumed(sweep_dir, found["computed"] + found["skipped"])
            failed = found["failed"]
        missing = found["left"] if self.runs is not None else []
        if missing:  # e.g. a worker or scheduler task killed before it could record a failure
            lines = [f"[sweep] {len(missing)} planned run(s) missing (rerun the sweep):"]
            lines += [f"  {sweep_dir / name}" for name in missing]
            print("\n".join(lines), file=sys.stderr, flush=True)
        if failed:
            lines = [f"[sweep] {len(failed)} run(s) failed (see failed.json in each folder):"]
            for name in failed:
                try:
                    record = json.loads((sweep_dir / name / FAILED).read_text(encoding="utf-8"))
                    why = f"{record['exception']}: {record['message']}"
                except (OSError, ValueError, KeyError, TypeError):
                    why = "unreadable failed.json"
                lines.append(f"  {sweep_dir / name}  {why}")
            print("\n".join(lines), file=sys.stderr, flush=True)
        if missing or failed:
            sys.exit(1)


def _warn_assumed(sweep_dir: Path, finished: list[str]) -> None:
    """One line on stderr for the whole sweep (its jobs print one line each) when finished
    runs rest mostly on assumed profile cells (see :func:`sim.model.summary.mostly_assumed`)."""
    # Here, not at the top: Hydra imports this module (through our sweeper plugin) for every
    # command, `--help` too, and the model's modules bring Mesa.
    from sim.model.summary import mostly_assumed

    assumed = []
    for name in finished:
        try:
            summary = json.loads((sweep_dir / name / SUMMARY).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and mostly_assumed(summary):
            assumed.append(name)
    if assumed:
        print(f"[sweep] Warning: {len(assumed)} of {len(finished)} finished runs sampled most "
              "of their profile decisions from assumed cells (assumed_share in summary.json; "
              "sim/data/profiles/RULES.md)", file=sys.stderr, flush=True)  # fmt: skip


def _wait_for_others(sweep_dir: Path, left: list[str]) -> bool:
    """Wait for the ``left`` runs that another process is computing now (their jobs here
    skipped them at once); whether there were any. A run whose holder dies meanwhile stays
    unfinished, and the count says it is missing."""
    waited = False
    for name in left:
        folder = sweep_dir / name
        if not held(folder):
            continue
        waited = True
        print(f"[sweep] waiting for {name}: being computed by {locks.holder(folder)}",
              flush=True)  # fmt: skip
        with locks.hold(folder):
            pass
    return waited


def held(folder: Path) -> bool:
    """Whether another process holds the run in ``folder`` (computing it now)."""
    if not (folder / locks.RUN_LOCK).exists():
        return False
    with locks.hold_if_free(folder) as free:
        return not free


def _drop_failure(folder: Path) -> None:
    """Remove a failed run's stale ``failed.json``, so it counts as left until it runs again;
    unless another process holds the run: then it is running now, and its record is not
    stale."""
    with locks.hold_if_free(folder) as free:
        if free:
            (folder / FAILED).unlink(missing_ok=True)
