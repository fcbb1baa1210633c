"""A Ray head for tests: started on 127.0.0.1 in its own folder, stopped at the end.

The cluster uses token authentication with a token made for the test (``RAY_AUTH_TOKEN``),
so nothing is read from or written to ``~/.ray``. Only the head started here is stopped:
``ray stop`` would stop every Ray cluster of this user on the machine.
"""

from __future__ import annotations

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
