"""Workers of a killed sweep stop: a process that runs a sweep's jobs on behalf of the sweep
command (a joblib worker, a submitit local job) exits within :data:`CHECK_EVERY` seconds of
that command's death, instead of finishing its run and idling for many minutes.

Its run is left unfinished (no ``done`` marker, its lock released by the operating system),
so rerunning the sweep computes it again, once. A worker that starts its job after the
command died stops at once. Jobs of other launchers are not children of the sweep command
and are not watched here: SLURM's tasks run on (by design, after a kill the rerun skips
the runs they hold, and waits for them), and Ray stops the tasks of a driver that died.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

__all__ = ["CHECK_EVERY", "CHILD_LAUNCHERS", "stop_with_sweep_command", "sweep_command_pid"]

#: How often a worker checks that the sweep command still lives, in seconds.
CHECK_EVERY = 2.0
#: The launchers whose workers are child processes of the sweep command on its machine.
CHILD_LAUNCHERS = frozenset(
    {
        "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    }
)

_watching = threading.Event()


def sweep_command_pid(sweep_id: str | None) -> int | None:
    """The process id inside a sweep id (``<date>_<time>_<pid>-<hex>``), or None."""
    try:
        return int(str(sweep_id).rsplit("_", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def stop_with_sweep_command(sweep_id: str | None, launcher: str) -> None:
    """If this process runs a job for the sweep command as its descendant (``launcher``, the
    ``_target_`` of ``hydra.launcher``, is one of :data:`CHILD_LAUNCHERS`), exit (status 3)
    once that command is gone, or at once if it is gone already. Watches once per process,
    from a daemon thread, so a reused worker keeps one watcher across its jobs."""
    command = sweep_command_pid(sweep_id)
    if command is None or command == os.getpid() or launcher not in CHILD_LAUNCHERS:
        return
    if not _descends_from(command):  # its child by construction, re-parented: it died
        _stop(command)
    if _watching.is_set():
        return
    _watching.set()
    threading.Thread(target=_watch, args=(command,), name="sweep-orphan-watch", daemon=True).start()


def _watch(command: int) -> None:
    while _descends_from(command):  # re-parented when the command dies
        time.sleep(CHECK_EVERY)
    _stop(command)


def _descends_from(command: int) -> bool:
    """Whether ``command`` is this process's parent, or (on Linux, read from ``/proc``) an
    ancestor: submitit's local jobs run under a controller process of their own."""
    pid = os.getppid()
    while pid > 1:
        if pid == command:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # after the name: state, then ppid
    return False


def _stop(command: int) -> None:
    print(f"[sweep] the sweep command (pid {command}) is gone: this worker stops, its run "
          "left unfinished for a rerun", file=sys.stderr, flush=True)  # fmt: skip
    os._exit(3)
