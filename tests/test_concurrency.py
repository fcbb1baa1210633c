"""Commands that run at once: two runs never share or break a folder, a sweep started twice
computes each run once, and a lock whose holder was killed blocks no one.

The commands run as subprocesses, started one right after the other so that they overlap.
Nothing here depends on timing: on a loaded machine they may overlap less, and every
assertion still holds.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sim.app.naming import register_resolvers, unique_stamp
from sim.io import locks
from sim.io.locks import RUN_LOCK, SWEEP_LOCK
from sim.io.outputs import DONE, verify_run

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
ENV.pop("PEERSIM_SWEEP_FAIL", None)
TIMEOUT = 600  # generous: the machine may be busy with other test suites
SMALL = ["population.n_agents=30", "steps=10", "progress=false", "figures=false"]
STAMP = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.\d{6}_(\d+)-[0-9a-f]{6}")
#: Holds a lock (folder, name) until killed: a process that dies holding it.
HOLDER = """
import sys, time
from pathlib import Path
from sim.io.locks import hold
with hold(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(*processes: subprocess.Popen) -> list[str]:
    """Wait for each process; return their stdouts, after checking they exited 0."""
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=TIMEOUT)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def whole(folder: Path) -> None:
    assert verify_run(folder), folder
    assert not list(folder.glob("*.partial")), folder


# ----------------------------------------------------------------------------- folder names


def test_the_stamp_is_new_at_every_call_and_sorts_as_its_time():
    stamps = [unique_stamp() for _ in range(20_000)]  # a tight loop: many share a microsecond
    assert len(set(stamps)) == len(stamps)
    for stamp in stamps:
        match = STAMP.fullmatch(stamp)
        assert match and int(match.group(1)) == os.getpid()
    # Sorted as text, stamps are sorted by the time they hold (fixed-width fields, largest first).
    texts = sorted(stamp[:26] for stamp in stamps)
    assert texts == sorted(texts, key=lambda t: datetime.strptime(t, "%Y-%m-%d_%H-%M-%S.%f"))


def test_the_resolver_gives_one_stamp_per_config():
    register_resolvers()
    one = OmegaConf.create({"dir": "runs/${unique_stamp:}", "id": "${unique_stamp:}"})
    other = OmegaConf.create({"dir": "runs/${unique_stamp:}"})
    assert one.dir == f"runs/{one.id}"  # cached: one stamp per config
    assert STAMP.fullmatch(one.id) and other.dir != one.dir


# ----------------------------------------------------------------------------- single runs


def test_two_runs_started_at_once_get_two_whole_folders(tmp_path):
    first, second = start(SMALL, tmp_path), start(SMALL, tmp_path)  # one right after the other
    outputs = finish(first, second)
    folders = sorted((tmp_path / "outputs" / "runs").iterdir())
    assert len(folders) == 2 and all(STAMP.fullmatch(f.name) for f in folders)
    shown = sorted(
        Path(re.search(r"^  output folder\s+(.+)$", out, re.MULTILINE).group(1)) for out in outputs
    )
    assert [f.resolve() for f in shown] == [f.resolve() for f in folders]  # one each
    for folder in folders:
        whole(folder)
        assert (folder / ".hydra" / "config.yaml").is_file() and (folder / "cli.log").is_file()


def test_two_runs_into_one_given_folder_leave_it_whole(tmp_path):
    """With the same explicit ``hydra.run.dir`` they share the folder, but take turns to
    write it: it ends with one run's files and a marker that verifies."""
    args = [*SMALL, f"hydra.run.dir={tmp_path / 'run'}"]
    finish(start(args, tmp_path), start(args, tmp_path))
    whole(tmp_path / "run")


# ----------------------------------------------------------------------------- sweeps


def computed(output: str) -> int:
    """How many runs a sweep command says it computed, in its jobs' lines and its count."""
    jobs = sum(line.startswith("[sweep] computed ") for line in output.splitlines())
    (count,) = re.findall(r"^\[sweep\] (\d+)/4 done: (\d+) computed, (\d+) skipped", output, re.M)
    done, mine, skipped = map(int, count)
    assert mine == jobs and done == mine + skipped == 4, output
    return jobs


@pytest.mark.parametrize(
    "launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["basic", "joblib"]
)
def test_the_same_sweep_started_twice_at_once_computes_each_run_once(tmp_path, launcher):
    if launcher:
        pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path / "sweep"
    args = ["-m", *launcher, "seed=0,1,2,3", *SMALL, f"hydra.sweep.dir={sweep_dir}"]
    outputs = finish(start(args, tmp_path), start(args, tmp_path))
    assert sum(computed(out) for out in outputs) == 4
    waits = sum(out.count("[sweep] waiting for ") for out in outputs)
    print(f"runs computed per command: {[computed(o) for o in outputs]}, waits: {waits}")
    runs = [p for p in sweep_dir.iterdir() if p.is_dir()]
    assert len(runs) == 4
    ids = set()
    for folder in runs:
        whole(folder)
        ids.add(json.loads((folder / "manifest.json").read_text())["sweep"]["computed_by"])
    assert len(ids) <= 2 and all(STAMP.fullmatch(i) for i in ids)
    assert sorted(json.loads((sweep_dir / "sweep.json").read_text())["runs"]) == sorted(
        p.name for p in runs
    )


# ----------------------------------------------------------------------------- stale locks


def hold_until_killed(folder: Path, name: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), name],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The process's output lines as they come, then None: read by a thread, so that waiting
    for a line can time out."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_a_lock_is_reentrant_and_waits_for_other_processes_only(tmp_path):
    waits = []
    with locks.hold(tmp_path, on_wait=lambda: waits.append(1)):
        with locks.hold(tmp_path, on_wait=lambda: waits.append(2)):
            pass
        with locks.hold_if_free(tmp_path) as free:
            assert free
    assert waits == []
    holder = hold_until_killed(tmp_path, RUN_LOCK)
    try:
        with locks.hold_if_free(tmp_path) as free:
            assert not free
    finally:
        holder.kill()
        holder.wait(timeout=TIMEOUT)
    with locks.hold(tmp_path, on_wait=lambda: waits.append(3)):  # the holder died: free
        pass
    assert waits == [] and (tmp_path / RUN_LOCK).is_file()


#: The one run of the sweep below, and its folder.
ONE_RUN = ["seed=3", *SMALL]
ONE_RUN_FOLDER = "figures=False,population.n_agents=30,seed=3,steps=10"


def sweep_one_run(sweep_dir: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "-m", *ONE_RUN, f"hydra.sweep.dir={sweep_dir}"],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(lines: queue.Queue, start: str) -> str:
    while (line := lines.get(timeout=TIMEOUT)) is not None and not line.startswith(start):
        pass
    assert line is not None, f"the sweep ended without a line starting {start!r}"
    return line


def test_a_sweep_waits_for_the_plans_lock_and_goes_on_when_its_holder_is_killed(tmp_path):
    sweep_dir = tmp_path / "sweep"
    holder = hold_until_killed(sweep_dir, SWEEP_LOCK)
    sweep = sweep_one_run(sweep_dir, tmp_path)
    lines = lines_of(sweep)
    try:
        wait_for_line(lines, "[sweep] waiting for another process writing the plan of ")
        assert sweep.poll() is None  # it waits...
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # ...for a holder that dies without releasing
        holder.wait(timeout=TIMEOUT)
    rest = list(iter(lambda: lines.get(timeout=TIMEOUT), None))
    assert sweep.wait(timeout=TIMEOUT) == 0, "".join(rest)
    assert f"[sweep] computed {ONE_RUN_FOLDER}\n" in rest
    assert "[sweep] 1/1 done: 1 computed, 0 skipped (already done), 0 failed, 0 left\n" in rest
    whole(sweep_dir / ONE_RUN_FOLDER)
    assert (sweep_dir / SWEEP_LOCK).is_file() and (sweep_dir / ONE_RUN_FOLDER / RUN_LOCK).is_file()


def test_a_run_another_process_holds_is_skipped_at_once_waited_for_and_taken_over(tmp_path):
    """The job skips the held run at once, naming its holder; the sweep's books wait for it;
    its holder dies without finishing it, so the sweep says it is missing (exit 1), and the
    rerun takes the stale lock over and computes it."""
    sweep_dir = tmp_path / "sweep"
    folder = sweep_dir / ONE_RUN_FOLDER
    holder = hold_until_killed(folder, RUN_LOCK)
    sweep = sweep_one_run(sweep_dir, tmp_path)
    lines = lines_of(sweep)
    try:
        skipped = wait_for_line(lines, f"[sweep] skipped {ONE_RUN_FOLDER}: being computed by ")
        assert f"pid {holder.pid}, since " in skipped
        waiting = wait_for_line(lines, f"[sweep] waiting for {ONE_RUN_FOLDER}: being computed by")
        assert f"pid {holder.pid}, since " in waiting
        assert sweep.poll() is None  # it waits...
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # ...for a holder that dies without finishing
        holder.wait(timeout=TIMEOUT)
    rest = list(iter(lambda: lines.get(timeout=TIMEOUT), None))
    assert sweep.wait(timeout=TIMEOUT) == 1, "".join(rest)
    assert "[sweep] 0/1 done: 0 computed, 0 skipped (already done), 0 failed, 1 left\n" in rest
    assert "[sweep] 1 planned run(s) missing (rerun the sweep):\n" in rest
    rerun = sweep_one_run(sweep_dir, tmp_path)
    output = rerun.communicate(timeout=TIMEOUT)[0]
    assert rerun.returncode == 0, output
    assert f"[sweep] computed {ONE_RUN_FOLDER}\n" in output
    whole(folder)
    assert {p.name for p in folder.iterdir()} >= {DONE, RUN_LOCK}
    assert not (folder / (RUN_LOCK + ".holder")).exists()  # let go with the lock
