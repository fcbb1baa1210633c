"""Start-up of the command line, timed from outside: ``python -m sim --help`` and the default
run ``python -m sim`` (200 models, 200 steps, figures on), each in a fresh process, the two
interleaved, wall time from launch to exit (``bench.py``'s group ``startup``), and the CPU
time the process used (user + system, its children included): on a shared machine wall
time grows with the load, CPU time far less, so it shows where a change helped."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_stats import spread

__all__ = ["COMMANDS", "startup_check"]

#: What is timed: name -> arguments of ``python -m sim``.
COMMANDS = {"help": ["--help"], "run": []}


def _cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _time(
    argv: list[str], cwd: Path, env: dict, timeout: float
) -> tuple[float | None, float | None, str]:
    """Wall and CPU seconds of one command (None, None, why: when it failed or timed out)."""
    t0, cpu0 = time.perf_counter(), _cpu()
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, None, f"timeout after {timeout:g} s"
    elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
    if done.returncode != 0:
        lines = [s for s in done.stderr.splitlines() if s.strip()]
        return None, None, f"exit status {done.returncode}: {lines[-1][:200] if lines else ''}"
    return elapsed, cpu, ""


def startup_check(root: Path, repeats: int, timeout: float) -> dict:
    """Time each of :data:`COMMANDS` ``repeats`` times, round-robin, each run in a new empty
    folder (where the default run writes ``outputs/``, deleted after).

    Returns:
        name -> median, min, max, n, every time (``times``), the 1-minute load average at
        the start of each (``load_1min``), the CPU seconds of each (``cpu_times``) and their
        median, min and max (``cpu``) and, if a run failed, ``note``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    found = {name: {"times": [], "cpu_times": [], "load_1min": []} for name in COMMANDS}
    for _ in range(repeats):
        for name, args in COMMANDS.items():
            folder = Path(tempfile.mkdtemp(prefix="bench-startup-"))
            try:
                found[name]["load_1min"].append(os.getloadavg()[0])
                seconds, cpu, why = _time(
                    [sys.executable, "-m", "sim", *args], folder, env, timeout
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            if seconds is None:
                found[name]["note"] = why
            else:
                found[name]["times"].append(seconds)
                found[name]["cpu_times"].append(cpu)
    for got in found.values():
        got.update(spread(got["times"]) or {})
        got["cpu"] = spread(got["cpu_times"])
    return found
