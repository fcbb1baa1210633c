"""``hydra/launcher=ray_cluster`` against a running Ray cluster: a head started here, on
127.0.0.1, in its own folder; a sweep run from another folder with a relative sweep folder.

The cluster uses token authentication with a token made for the test (``RAY_AUTH_TOKEN``),
so nothing is read from or written to ``~/.ray``. Only the head started here is stopped:
``ray stop`` would stop every Ray cluster of this user on the machine.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sim.app.collect import main as collect
from sim.io.outputs import verify_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray not installed (pip install -e '.[ray]')",
)

TINY = ["population.n_agents=30", "steps=5", "figures=false", "progress=false"]
READY = "will now block forever"  # what `ray start --block` prints once the head is up


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_in(folder: Path) -> list[int]:
    """The processes working in ``folder``: the head's workers, which outlive a crash."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")).is_relative_to(folder):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def ray_head():
    """A Ray head on 127.0.0.1 with 2 CPUs; yields the environment that reaches it."""
    # Short: Ray's socket paths live under its temp dir and must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="peersim-ray-", dir="/tmp"))
    (root / "head").mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    log = (root / "head.log").open("w")
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",  # so that ending this one process stops the head and its workers
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={root / 'ray'}",
        ],
        cwd=root / "head",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while READY not in (root / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray head did not start:\n{(root / 'head.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            head.kill()
        for pid in _processes_in(root):
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def test_sweep_on_a_running_cluster(ray_head, tmp_path, capsys):
    """Address ``auto`` (from ``RAY_ADDRESS``), a relative sweep folder, another cwd than the
    head's: the runs land in the sweep command's folder, and the sweep counts them."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "sim", "-m", "hydra/launcher=ray_cluster", "seed=0,1,2,3", *TINY,
         "hydra.sweep.dir=sweep"],
        cwd=cwd,
        env={**ray_head, "HYDRA_FULL_ERROR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = cwd / "sweep"
    runs = [folder for folder in sweep.iterdir() if folder.is_dir()]
    assert len(runs) == 4
    assert all(verify_run(folder) for folder in runs)
    assert "[sweep] 4/4 done: 4 computed, 0 skipped (already done), 0 failed, 0 left" in (
        done.stdout
    )
    assert collect([str(sweep), "--strict"]) == 0
    assert "4 runs (4 ok, 0 failed, 0 incomplete)" in capsys.readouterr().out
