"""Workers of a killed sweep stop: a process that runs a sweep's jobs on behalf of the sweep
command (a joblib worker, a submitit local job) exits within :data:`CHECK_EVERY` seconds of
that command's death, instead of finishing its run and idling for many minutes.

Its run is left unfinished (no ``done`` marker, its lock released by the operating system),
so rerunning the sweep computes it again, once. Jobs on other machines (SLURM, Ray) are not
children of the sweep command and are not watched here.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["CHECK_EVERY", "stop_with_sweep_command", "sweep_command_pid"]

#: How often a worker checks that the sweep command still lives, in seconds.
CHECK_EVERY = 2.0

_watching = threading.Event()


def sweep_command_pid(sweep_id: str | None) -> int | None:
    """The process id inside a sweep id (``<date>_<time>_<pid>-<hex>``), or None."""
    try:
        return int(str(sweep_id).rsplit("_", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def stop_with_sweep_command(sweep_id: str | None) -> None:
    """If this process is a child of the sweep command, exit (status 3) once that command
    is gone. Watches once per process, from a daemon thread, so a reused worker keeps one
    watcher across its jobs."""
    command = sweep_command_pid(sweep_id)
    if command is None or os.getppid() != command or _watching.is_set():
        return
    _watching.set()
    threading.Thread(target=_watch, args=(command,), name="sweep-orphan-watch", daemon=True).start()


def _watch(command: int) -> None:
    while os.getppid() == command:  # re-parented when the command dies
        time.sleep(CHECK_EVERY)
    print(f"[sweep] the sweep command (pid {command}) is gone: this worker stops, its run "
          "left unfinished for a rerun", file=sys.stderr, flush=True)  # fmt: skip
    os._exit(3)
