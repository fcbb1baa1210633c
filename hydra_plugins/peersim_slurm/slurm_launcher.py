"""A SLURM launcher for sweeps that are safe to kill, interrupt and rerun: hydra-submitit-
launcher's ``SlurmLauncher``, with three changes (``conf/hydra/launcher/slurm.yaml`` selects it).

- **Before submitting**, it drops the runs whose folder already verifies
  (:func:`sim.io.outputs.verify_run`) or whose lock a live process holds (another sweep
  command's task computing it now), and submits only the rest, as one job array (none at
  all if nothing is left). Each run's folder is found as Hydra will find it in the task:
  the job's composed config (``load_sweep_config``), ``hydra.sweep.dir``/``hydra.sweep.subdir``.
- **While waiting** for the tasks, as they end (in any order), a task that ends without a
  result (killed by the scheduler: time limit, memory, node failure, ``scancel``; submitit
  raises ``UncompletedJobError`` or ``FailedJobError``) gets its run's ``failed.json`` (the
  exception and submitit's message, with the SLURM state), unless its folder verifies or
  another process holds it now; the other tasks are still awaited. The sweep's books
  (:mod:`sim.app.sweep_book`) then list it and exit 1, and a rerun computes it.
- **On SIGINT or SIGTERM** while waiting, it cancels the job array (``scancel``), says so,
  and exits with status 130 (SIGINT) or 143 (SIGTERM). The cancelled runs are left
  unfinished, for a rerun.

Dropped runs and runs whose task died still get a ``JobReturn`` (completed, returning None,
as a run the sweep skips or records as failed does), so the sweeper goes on to the end.
"""

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.app.sweep import SWEEP_ID, SweepJob, record_failure
from sim.io import locks, owned
from sim.io.outputs import verify_run

try:
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # no slurm extra: hydra/launcher=slurm cannot compose anyway
    # Hydra's plugin scan imports this module at every command; a plain base class keeps
    # that scan quiet for installs without the extra (the class is then no plugin).
    BaseQueueConf, SlurmLauncher = None, object

__all__ = ["SafeSlurmLauncher"]

log = logging.getLogger(__name__)

DONE_ALREADY = "already done"
HELD = "being computed by another process"
#: Where submitit's message of a task without a result goes on with a copy of its log (which
#: stays in the log file: failed.json keeps the state and the file's path).
_LOG_EXCERPT = re.compile(r"\n(?:Error stream produced|No error stream produced|No output/)")


# No ``from __future__ import annotations`` here: Hydra's plugin scan runs this module before
# it is in sys.modules, where dataclasses look string annotations up.
@dataclass(frozen=True)
class _Run:
    """One job of the sweep: its number, overrides and composed config."""

    num: int
    overrides: list[str]
    config: DictConfig

    @property
    def folder(self) -> Path:
        """The run's folder, as Hydra's ``run_job`` will make it (relative: to the command's
        working directory, where SLURM starts the task too)."""
        sweep = self.config.hydra.sweep
        return Path(str(sweep.dir)).absolute() / str(sweep.subdir)

    def sweep_job(self) -> SweepJob:
        """The run as :mod:`sim.app.sweep` sees it in its task (to record its failure)."""
        cfg = self.config
        return SweepJob(
            folder=self.folder,
            sweep_dir=Path(str(cfg.hydra.sweep.dir)).absolute(),
            overrides=tuple(cfg.hydra.overrides.task),
            base_seed=cfg.seed,
            replicate=cfg.replicate,
            sweep_id=cfg.hydra.job.env_set.get(SWEEP_ID),
        )

    def finished(self) -> JobReturn:
        """What the sweeper gets for a run that was not, or no longer, the task's to return:
        completed, returning None, as a skipped run does."""
        return JobReturn(
            overrides=self.overrides,
            working_dir=str(self.folder),
            task_name=str(self.config.hydra.job.name),
            status=JobStatus.COMPLETED,
        )


class SafeSlurmLauncher(SlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher that drops finished runs before submitting,
    records tasks that die as failed runs, and cancels its array when interrupted (see the
    module docstring). Takes the same parameters as ``SlurmLauncher``."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        assert self.config is not None and self.hydra_context is not None
        runs = [self._run(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
        dropped: dict[str, list[_Run]] = {DONE_ALREADY: [], HELD: []}
        todo = []
        for run in runs:
            why = _why_dropped(run.folder)
            (todo if why is None else dropped[why]).append(run)
        print(
            f"[sweep] SLURM: {len(todo)} of {len(runs)} runs to submit; "
            f"{len(runs) - len(todo)} dropped: {len(dropped[DONE_ALREADY])} {DONE_ALREADY}, "
            f"{len(dropped[HELD])} {HELD}",
            flush=True,
        )
        returns = {run.num: run.finished() for run in runs}
        if todo:
            jobs = self._submit(todo)
            array = jobs[0].job_id.split("_")[0]
            try:
                # From the line saying the job is submitted on, an interrupt cancels it.
                with _sigterm_interrupts():
                    submitted = f"submitted job {array} ({len(jobs)} task(s))"
                    print(f"[sweep] SLURM: {submitted}", flush=True)
                    for run, job in _as_they_end(todo, jobs):
                        returns[run.num] = _result(run, job)
            except KeyboardInterrupt as stop:
                subprocess.run(["scancel", array], check=False)
                signum = stop.signum if isinstance(stop, _Terminated) else signal.SIGINT
                print(
                    f"[sweep] interrupted ({signal.Signals(signum).name}): cancelled SLURM job "
                    f"{array} ({len(jobs)} task(s)); its unfinished runs are left for a rerun",
                    file=sys.stderr,
                    flush=True,
                )
                sys.exit(128 + signum)
        return [returns[run.num] for run in runs]

    def _run(self, num: int, overrides: list[str]) -> _Run:
        assert self.config is not None and self.hydra_context is not None
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config):
            config.hydra.job.num = num  # as the task sets it, before the subdir is resolved
        return _Run(num, overrides, config)

    def _submit(self, runs: list[_Run]) -> list:
        """Submit ``runs`` as one job array, with the settings ``SlurmLauncher.launch``
        passes to submitit (each run keeps its job number)."""
        import submitit

        assert self.config is not None
        init_keys = {"submitit_folder", "max_num_timeout"}
        executor = submitit.AutoExecutor(
            cluster="slurm",
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                key if key in base else f"slurm_{key}": value
                for key, value in self.params.items()
                if key not in init_keys
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        state = Singleton.get_state()
        for run in runs:
            log.info(f"\t#{run.num} : {' '.join(filter_overrides(run.overrides))}")
        arguments = [
            (r.overrides, "hydra.sweep.dir", r.num, f"job_id_for_{r.num}", state) for r in runs
        ]
        return executor.map_array(self, *zip(*arguments, strict=True))


def _why_dropped(folder: Path) -> str | None:
    """Why a run need not be submitted (:data:`DONE_ALREADY`, :data:`HELD`), or None."""
    if verify_run(folder):
        return DONE_ALREADY
    if folder.is_dir():  # a run without a folder is held by nobody (and none is made here)
        with locks.hold_if_free(folder) as free:
            if not free:
                return HELD
    return None


def _as_they_end(runs: list[_Run], jobs: list) -> Iterator[tuple[_Run, Any]]:
    """Each run with its job, as its task ends (a task killed early is recorded early, while
    the others still run), checking every second as submitit's own wait does."""
    waiting = dict(enumerate(jobs))
    while waiting:
        ended = [i for i, job in waiting.items() if job.done()]
        for i in ended:
            yield runs[i], waiting.pop(i)
        if not ended:
            time.sleep(1)


def _result(run: _Run, job: Any) -> JobReturn:
    """The task's result; for a task that ended without one, the run's failure recorded
    (unless its folder verifies, or another process holds it now) and :meth:`_Run.finished`."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError as error:
        failure = error  # FailedJobError: the task's own traceback, which says why
        if not isinstance(error, FailedJobError):  # no result: the SLURM state says why
            head = _LOG_EXCERPT.split(str(error), maxsplit=1)[0].replace("\n", " ")
            failure = UncompletedJobError(f"{head}; its log: {job.paths.stderr}")
        with locks.hold_if_free(run.folder) as free:
            # A folder with files the tool did not write is not touched (the plan refuses
            # such a sweep at its start; this guards against one made since).
            if free and not verify_run(run.folder) and not owned.problem(run.folder, owned.RUN):
                record_failure(run.sweep_job(), failure)
                print(
                    f"[sweep] FAILED {run.folder.name}: {type(error).__name__}: {failure}",
                    file=sys.stderr,
                    flush=True,
                )
        return run.finished()


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the launcher waits, so that it cancels as on SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises :class:`_Terminated` in the body (signal handlers belong to the main
    thread: elsewhere, SIGTERM keeps its handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
