"""Running one measurement in a fresh process, and writing the JSON atomically."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sim.io import outputs


def run_worker(root: Path, spec: dict, timeout: float) -> tuple[str, list[dict], str]:
    """Run one measurement in a fresh process: (status, reported phases, error text)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_worker", json.dumps(spec)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so a timeout ends it and its children
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        status = "ok" if proc.returncode == 0 else "error"
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        status = "timeout"
    except BaseException:  # Ctrl-C: the child is in its own session and would not get it
        _kill(proc)
        proc.wait()
        raise
    phases = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("BENCH ")]
    lines = [s for s in err.strip().splitlines() if s.strip()]
    return status, phases, (lines[-1][:300] if lines else f"exit status {proc.returncode}")


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def merged(phases: list[dict]) -> dict:
    out: dict = {}
    for phase in phases:
        out.update(phase)
    return out


def write_json(path: str, payload: dict) -> None:
    """Write the benchmark's JSON atomically (the run folders' own writer)."""
    outputs.write_json(Path(path).resolve(), payload)
