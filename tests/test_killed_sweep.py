"""A sweep whose command is killed: its workers stop, a rerun completes every run and
computes none of them to completion twice, and a sweep that ends with planned runs missing
says so and exits 1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sim.app import orphans
from sim.app.sweep_book import FAILED, SweepBook
from sim.io.outputs import DONE, verify_run

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
ENV.pop("PEERSIM_SWEEP_FAIL", None)
#: Runs long enough (seconds each) that the command can be killed while they compute.
SLOW = ["population.n_agents=3000", "steps=300", "progress=false", "figures=false"]
SWEEP = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2,3,4"]
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


def test_workers_of_a_killed_sweep_stop_and_a_rerun_computes_each_run_once(tmp_path):
    args = [*SWEEP, *SLOW, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    command = subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT
    locks = []
    # Until both workers have taken a run (a worker that never took one is not watched).
    while len(locks) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        locks = list((tmp_path / "sweep").glob("*/.run.lock"))
    workers = children(command.pid)
    assert len(locks) >= 2 and workers
    command.send_signal(signal.SIGKILL)
    command.wait()
    stop_by = time.monotonic() + orphans.CHECK_EVERY + 30  # the check, plus a busy machine
    while any(alive(w) for w in workers) and time.monotonic() < stop_by:
        time.sleep(0.5)
    assert not [w for w in workers if alive(w)]
    finished_before = {p.parent.name for p in (tmp_path / "sweep").glob(f"*/{DONE}")}

    rerun = subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert rerun.returncode == 0, rerun.stderr
    runs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and "seed=" in p.name)
    assert len(runs) == 4 and all(verify_run(run) for run in runs)
    assert not [run for run in runs if (run / FAILED).exists()]
    summary = re.search(r"4/4 done: (\d) computed, (\d) skipped", rerun.stdout)
    assert summary, rerun.stdout
    assert int(summary.group(2)) == len(finished_before)  # no finished run is computed again


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
