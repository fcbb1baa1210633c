"""Sweeps through the SLURM launcher (``hydra/launcher=slurm``, hydra_plugins/peersim_slurm),
driven for real against a scheduler stand-in on PATH (tests/slurm_standin: ``sbatch``,
``squeue``, ``sacct``, ``scancel``, ``srun`` running the array's tasks here, each in a
session of its own): finished runs are not submitted again, a task the scheduler kills is
its run's failure, a killed sweep command and a rerun compute every run once, and an
interrupted one cancels its array."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from sim.io.outputs import DONE, FAILED, verify_run
from tests.slurm_standin import standin

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the slurm extra")

STANDIN = Path(__file__).resolve().parent / "slurm_standin"
TINY = ["population.n_agents=30", "steps=5", "figures=false", "progress=false"]
SEEDS = "seed=0,1,2,3"
DEADLINE = 300  # seconds for any one command or wait: generous, for a loaded machine
COMPUTED = re.compile(r"^\[sweep\] computed (\S+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _stand_in_ends(tmp_path):
    """Nothing of the stand-in outlives a test, and its schedulers end by themselves once
    their tasks are final."""
    yield
    if (tmp_path / "state" / "jobs").is_dir():
        assert standin.stop_all(tmp_path / "state") == []


def _env(state: Path, kill: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEERSIM_", "SLURM_"))}
    env.update(PATH=f"{STANDIN}{os.pathsep}{env['PATH']}", PYTHONHASHSEED="0")
    env[standin.STATE_ENV] = str(state)
    if kill is not None:
        env[standin.KILL_ENV] = kill
    return env


def _command(tmp_path: Path, args: list[str]) -> list[str]:
    sweep = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    return [sys.executable, "-m", "sim", "-m", "hydra/launcher=slurm", *args, sweep]


def _sweep(tmp_path: Path, args: list[str], kill: str | None = None):
    return subprocess.run(
        _command(tmp_path, args),
        cwd=tmp_path,
        env=_env(tmp_path / "state", kill),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def _start(tmp_path: Path, args: list[str], name: str, **popen) -> subprocess.Popen:
    """The sweep command in the background, its output in ``name.out`` and ``name.err``."""
    with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
        return subprocess.Popen(
            _command(tmp_path, args),
            cwd=tmp_path,
            env=_env(tmp_path / "state"),
            stdout=out,
            stderr=err,
            **popen,
        )


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"waited {DEADLINE} s for {what}"
        time.sleep(0.2)


def _runs(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "sweep").iterdir() if "seed=" in p.name)


def _computed(tmp_path: Path) -> Counter:
    """How often each run was computed to completion, from every task's log."""
    logs = (tmp_path / "sweep" / ".submitit").glob("*/*_log.out")
    return Counter(name for log in logs for name in COMPUTED.findall(log.read_text()))


def _collect_strict(tmp_path: Path) -> pd.DataFrame:
    done = subprocess.run(
        [sys.executable, "-m", "sim.app.collect", str(tmp_path / "sweep"), "--strict"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 0, done.stderr
    return pd.read_parquet(tmp_path / "sweep" / "runs.parquet")


def _count_line(computed: int, skipped: int, failed: int = 0, left: int = 0) -> str:
    done = computed + skipped
    total = done + failed + left
    return (
        f"[sweep] {done}/{total} done: {computed} computed, {skipped} skipped (already done), "
        f"{failed} failed, {left} left"
    )


def _drop_line(todo: int, done: int, held: int = 0) -> str:
    return (
        f"[sweep] SLURM: {todo} of {todo + done + held} runs to submit; {done + held} dropped: "
        f"{done} already done, {held} being computed by another process"
    )


def test_a_clean_sweep_is_one_array_and_a_rerun_submits_only_what_is_not_done(tmp_path):
    state = tmp_path / "state"
    first = _sweep(tmp_path, [SEEDS, *TINY])
    assert first.returncode == 0, first.stderr
    assert standin.submissions(state) == [{"id": 1000, "tasks": 4, "array": True}]
    assert _drop_line(4, 0) in first.stdout
    assert _count_line(4, 0) in first.stdout
    runs = _runs(tmp_path)
    assert len(runs) == 4 and all(verify_run(run) for run in runs)
    assert _computed(tmp_path) == Counter({run.name: 1 for run in runs})
    # The command ends when the results are in; the tasks' processes may still be exiting.
    _until(lambda: "RUNNING" not in standin.task_states(state).values(), "the tasks to end")
    assert set(standin.task_states(state).values()) == {"COMPLETED"}
    table = _collect_strict(tmp_path)
    assert sorted(table["seed"]) == [0, 1, 2, 3] and set(table["status"]) == {"ok"}

    again = _sweep(tmp_path, [SEEDS, *TINY])  # everything done: nothing is submitted
    assert again.returncode == 0, again.stderr
    assert len(standin.submissions(state)) == 1
    assert _drop_line(0, 4) in again.stdout
    assert _count_line(0, 4) in again.stdout

    (runs[2] / DONE).unlink()  # one run unfinished: a job of that run alone
    partial = _sweep(tmp_path, [SEEDS, *TINY])
    assert partial.returncode == 0, partial.stderr
    assert standin.submissions(state)[1:] == [{"id": 1005, "tasks": 1, "array": False}]
    assert _drop_line(1, 3) in partial.stdout
    assert _count_line(1, 3) in partial.stdout
    assert all(verify_run(run) for run in runs)
    assert _computed(tmp_path)[runs[2].name] == 2  # the only run computed again


def test_a_task_the_scheduler_kills_is_its_runs_failure_and_a_rerun_computes_it(tmp_path):
    state, seeds = tmp_path / "state", "seed=0,1,2"
    killed = _sweep(tmp_path, [seeds, *TINY], kill="1:TIMEOUT")
    assert killed.returncode == 1, killed.stderr
    _until(lambda: "RUNNING" not in standin.task_states(state).values(), "the tasks to end")
    assert standin.task_states(state) == {
        "1000_0": "COMPLETED",
        "1000_1": "TIMEOUT",
        "1000_2": "COMPLETED",
    }
    runs = _runs(tmp_path)
    victim = next(run for run in runs if "seed=1" in run.name)
    assert [verify_run(run) for run in runs] == [run != victim for run in runs]
    record = json.loads((victim / FAILED).read_text())
    assert record["exception"] == "UncompletedJobError"
    assert record["message"].startswith("Job 1000_1 (task: 0) with path ")
    assert "has not produced any output (state: TIMEOUT)" in record["message"]
    assert "seed=1" in record["overrides"]
    assert _count_line(2, 0, failed=1) in killed.stdout
    assert f"[sweep] 1 run(s) failed (see failed.json in each folder):\n  {victim}" in killed.stderr

    rerun = _sweep(tmp_path, [seeds, *TINY])
    assert rerun.returncode == 0, rerun.stderr
    assert standin.submissions(state)[1:] == [{"id": 1004, "tasks": 1, "array": False}]
    assert _count_line(1, 2) in rerun.stdout
    assert all(verify_run(run) for run in runs) and not (victim / FAILED).exists()
    assert _computed(tmp_path) == Counter({run.name: 1 for run in runs})
    assert set(_collect_strict(tmp_path)["status"]) == {"ok"}


def test_a_sweep_command_killed_mid_sweep_and_rerun_computes_each_run_once(tmp_path):
    state = tmp_path / "state"
    # One task at a time, so that the sweep is caught part-way whatever the runs take.
    args = ["seed=0,1,2", *TINY, "hydra.launcher.array_parallelism=1"]
    first = _start(tmp_path, args, "first")
    # Killed once a run is done: the next one is running, the last still pending.
    _until(
        lambda: "COMPLETED" in standin.task_states(state).values() if state.exists() else False,
        "a first task to complete",
    )
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert standin.live_tasks(state)  # the array goes on without its command

    rerun = _sweep(tmp_path, args)
    assert rerun.returncode in (0, 1), rerun.stderr  # 1: runs of the first array still running
    dropped = re.search(r"runs to submit; \d+ dropped: (\d+) already done", rerun.stdout)
    assert dropped and int(dropped.group(1)) >= 1, rerun.stdout
    if rerun.returncode == 1:
        assert "planned run(s) missing" in rerun.stderr and "run(s) failed" not in rerun.stderr

    _until(lambda: not standin.live_tasks(state), "the first array's leftover tasks")
    final = _sweep(tmp_path, args)
    assert final.returncode == 0, final.stderr
    assert _drop_line(0, 3) in final.stdout and _count_line(0, 3) in final.stdout
    runs = _runs(tmp_path)
    assert _computed(tmp_path) == Counter({run.name: 1 for run in runs})  # none twice
    assert not [run for run in runs if (run / DONE).exists() and (run / FAILED).exists()]
    table = _collect_strict(tmp_path)
    assert sorted(table["seed"]) == [0, 1, 2] and set(table["status"]) == {"ok"}


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test runner's worker may ignore it


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_sweep_cancels_its_array(tmp_path, signum):
    state = tmp_path / "state"
    args = [SEEDS, *TINY, "hydra.launcher.array_parallelism=1"]  # one task at a time
    command = _start(tmp_path, args, "sweep", preexec_fn=_default_sigint)
    out = tmp_path / "sweep.out"
    _until(lambda: "[sweep] SLURM: submitted job 1000" in out.read_text(), "the submission")
    _until(lambda: "RUNNING" in standin.task_states(state).values(), "a task to start")
    command.send_signal(signum)
    assert command.wait(timeout=DEADLINE) == 128 + signum
    err = (tmp_path / "sweep.err").read_text()
    assert f"[sweep] interrupted ({signum.name}): cancelled SLURM job 1000 (4 task(s))" in err
    states = standin.task_states(state)
    cancelled = [task for task, s in states.items() if s == f"CANCELLED by {os.getuid()}"]
    assert cancelled and set(states.values()) <= {"COMPLETED", f"CANCELLED by {os.getuid()}"}
    assert standin.live_tasks(state) == []
    runs = [p for p in (tmp_path / "sweep").iterdir() if "seed=" in p.name]
    assert not [run for run in runs if (run / FAILED).exists()]  # interrupted, not failed
    # A task cancelled in its last moments may have finished its run: at least the completed.
    done = sum(verify_run(run) for run in runs)
    assert list(states.values()).count("COMPLETED") <= done < 4


def _run(folder: Path):
    from omegaconf import OmegaConf

    from hydra_plugins.peersim_slurm.slurm_launcher import _Run

    hydra = {
        "sweep": {"dir": str(folder.parent), "subdir": folder.name},
        "overrides": {"task": ["seed=2"]},
        "job": {"name": "sim", "env_set": {}},
    }
    return _Run(2, ["seed=2"], OmegaConf.create({"hydra": hydra, "seed": 0, "replicate": 0}))


@pytest.fixture
def held(tmp_path):
    """A run folder whose lock another live process holds."""
    folder = tmp_path / "held"
    code = (
        "import sys, time; from pathlib import Path; from sim.io import locks\n"
        "with locks.hold(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "held\n"
    yield folder
    holder.kill()
    holder.wait()


def _done(folder: Path) -> Path:
    """A run folder whose done marker verifies."""
    folder.mkdir()
    (folder / "summary.json").write_text("{}")
    digest = hashlib.sha256(b"{}").hexdigest()
    (folder / DONE).write_text(json.dumps({"files": {"summary.json": digest}}))
    return folder


def test_runs_done_or_held_elsewhere_are_dropped_and_others_submitted(tmp_path, held):
    from hydra_plugins.peersim_slurm.slurm_launcher import DONE_ALREADY, HELD, _why_dropped

    done = _done(tmp_path / "done")
    assert _why_dropped(done) == DONE_ALREADY
    assert _why_dropped(held) == HELD
    (done / "summary.json").write_text("{ }")  # changed since: not done
    assert _why_dropped(done) is None
    assert _why_dropped(tmp_path / "new") is None and not (tmp_path / "new").exists()


class _DeadTask:
    """A submitit job whose task ended without a result: ``results()`` raises ``error``."""

    class paths:  # noqa: N801 (submitit's attribute)
        stderr = Path("/x/.submitit/7_2/7_2_0_log.err")

    def __init__(self, error: Exception | None = None) -> None:
        from submitit.core.utils import UncompletedJobError

        self.error = error or UncompletedJobError(
            "Job 7_2 (task: 0) with path /x/7_2_0_result.pkl\nhas not produced any output "
            "(state: TIMEOUT)\nError stream produced:\n----\nthe task's whole log"
        )

    def results(self):
        raise self.error


def test_a_dead_task_is_recorded_unless_its_run_is_done_or_held(tmp_path, held):
    from submitit.core.utils import FailedJobError

    from hydra_plugins.peersim_slurm.slurm_launcher import _result

    run = _run(tmp_path / "seed=2")
    assert _result(run, _DeadTask()).return_value is None
    record = json.loads((run.folder / FAILED).read_text())
    assert record["exception"] == "UncompletedJobError"
    assert record["message"] == (
        "Job 7_2 (task: 0) with path /x/7_2_0_result.pkl has not produced any output (state: "
        "TIMEOUT); its log: /x/.submitit/7_2/7_2_0_log.err"
    )
    assert (run.folder / ".peersim").exists()  # the tool's folder: a rerun may use it
    trace = "Job (task=0) failed during processing with trace:\nTraceback ...\nImportError: x"
    assert _result(run, _DeadTask(FailedJobError(trace))).return_value is None
    record = json.loads((run.folder / FAILED).read_text())
    assert (record["exception"], record["message"]) == ("FailedJobError", trace)
    assert _result(_run(held), _DeadTask()).return_value is None
    assert not (held / FAILED).exists()  # another process computes it now
    done = _done(tmp_path / "done")  # the task was killed after its run's last file
    assert _result(_run(done), _DeadTask()).return_value is None
    assert verify_run(done) and not (done / FAILED).exists()
