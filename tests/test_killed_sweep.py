"""A sweep whose command is killed: its workers stop, a rerun completes every run and
computes none of them to completion twice, and a sweep that ends with planned runs missing
says so and exits 1."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sim.app import orphans
from sim.app.collect import main as collect_main
from sim.app.sweep_book import FAILED, SweepBook, computed_by, held
from sim.io.locks import RUN_LOCK
from sim.io.outputs import DONE, verify_run

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
ENV.pop("PEERSIM_SWEEP_FAIL", None)
#: Runs long enough (seconds each) that the command can be killed while they compute.
SLOW = ["population.n_agents=2000", "steps=150", "progress=false", "figures=false"]
TIMEOUT = 600
BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_the_sweep_command_pid_is_read_from_the_sweep_id():
    assert orphans.sweep_command_pid("2026-12-07_04-55-01.123456_4242-9f3c1a") == 4242
    assert orphans.sweep_command_pid(None) is None
    assert orphans.sweep_command_pid("not-a-stamp") is None


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


#: Every launcher the README names that runs on this machine (SLURM: tests/test_slurm.py),
#: and the module it needs.
LAUNCHERS = {
    "basic": ([], "hydra"),
    "joblib": (
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        "hydra_plugins.hydra_joblib_launcher",
    ),
    "submitit_local": (
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
        "hydra_plugins.hydra_submitit_launcher",
    ),
    "ray_local": (["hydra/launcher=ray_local"], "ray"),
    "ray_cluster": (["hydra/launcher=ray_cluster"], "ray"),
}
#: How long after the kill every run's lock must be free: no process computes a run any
#: more. Our own workers check every CHECK_EVERY seconds; Ray kills the tasks of a driver
#: that died once it notices; the rest is a busy machine's margin.
STOP_WITHIN = 60


#: The launchers whose workers are the sweep command's own processes, which must all exit
#: (Ray's belong to the cluster, which stops a dead driver's tasks; its locks say so).
WATCHED = {"joblib", "submitit_local"}


def descendants(pid: int) -> set[int]:
    found = children(pid)
    for child in list(found):
        found |= descendants(child)
    return found


def held_runs(sweep_dir: Path) -> list[str]:
    return [lock.parent.name for lock in sweep_dir.glob(f"*/{RUN_LOCK}") if held(lock.parent)]


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_killed_sweep_stops_and_a_rerun_computes_each_run_once(tmp_path, launcher, request):
    """SIGKILL of the sweep command while a run computes: within STOP_WITHIN seconds no
    process computes a run; the rerun skips every run finished before it, computes the others
    once, and ends with every run done, none failed, collected by ``collect --strict``."""
    args, module = LAUNCHERS[launcher]
    if not _has(module):
        pytest.skip(f"{module} not installed")
    env = request.getfixturevalue("ray_head") if launcher == "ray_cluster" else ENV
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "sim", "-m", *args, "seed=1,2,3,4", *SLOW,
               f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    sweep = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + TIMEOUT
    while not held_runs(sweep_dir) and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert held_runs(sweep_dir), "no run was computing"
    workers = descendants(sweep.pid) if launcher in WATCHED else set()
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    stop_by = time.monotonic() + STOP_WITHIN
    while (held_runs(sweep_dir) or any(map(alive, workers))) and time.monotonic() < stop_by:
        time.sleep(0.5)
    assert not held_runs(sweep_dir), "runs still computed after the sweep command was killed"
    assert not [w for w in workers if alive(w)], "workers outlived the sweep command"
    finished_before = {p.parent.name for p in sweep_dir.glob(f"*/{DONE}")}
    assert len(finished_before) < 4
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=TIMEOUT)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and "seed=" in p.name)
    assert len(runs) == 4 and all(verify_run(run) for run in runs)
    assert not [run for run in runs if (run / FAILED).exists()]
    computed = 4 - len(finished_before)
    assert (
        f"[sweep] 4/4 done: {computed} computed, {len(finished_before)} skipped (already done), "
        "0 failed, 0 left"
    ) in rerun.stdout, rerun.stdout
    # Each run computed once: the ones finished before the kill by the first command, the
    # others by the rerun.
    first = {computed_by(run) for run in runs if run.name in finished_before}
    second = {computed_by(run) for run in runs if run.name not in finished_before}
    assert len(first) <= 1 and len(second) == 1 and not first & second
    assert collect_main([str(sweep_dir), "--strict"]) == 0


def test_a_sweep_that_ends_with_planned_runs_missing_exits_1(tmp_path, capsys):
    for name, files in {"a": {DONE: "{}"}, "b": {FAILED: json.dumps({})}, "c": {}}.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
    book = SweepBook()
    book.runs, book.sweep_id = ["a", "b", "c"], None
    config = OmegaConf.create(
        {"hydra": {"sweep": {"dir": str(tmp_path)}, "sweeper": {"_target_": BASIC}}}
    )
    with pytest.raises(SystemExit) as stopped:
        book.on_multirun_end(config)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "1 planned run(s) missing" in err and str(tmp_path / "c") in err
    assert "1 run(s) failed" in err
