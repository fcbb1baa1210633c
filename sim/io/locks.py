"""Locks on run and sweep folders, so that two processes never write one folder at once.

A lock is an empty hidden file in the folder it guards (:data:`RUN_LOCK`, :data:`SWEEP_LOCK`),
held with the operating system's file lock (``flock``, through the ``filelock`` package).
The operating system releases it when its process ends, however it ends (SIGKILL included),
so a killed holder never leaves a stale lock behind; the file itself stays, and must stay:
removing a lock file while it is held would let a second process lock a new file of the
same name. Lock files are not outputs: no ``done`` marker lists them, and collecting a sweep
ignores them.

Whoever holds a lock says so in a record beside it, ``<lock>.holder`` (JSON: host, pid, the
sweep command and the scheduler's job, since when), written when the lock is taken and removed
when it is let go, so that a process that finds the lock taken can say who has it
(:func:`holder`). The record is only read while the lock is held: a record left by a killed
holder means nothing once its lock is free again, and the next holder overwrites it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["LOCKS", "RUN_LOCK", "SWEEP_LOCK", "hold", "hold_if_free", "holder"]

#: A run folder's lock: held while the run is computed (in a sweep) and while it is written.
RUN_LOCK = ".run.lock"
#: A sweep folder's lock: held while a sweep command writes its plan.
SWEEP_LOCK = ".sweep.lock"
#: The suffix of a lock's holder record.
HOLDER = ".holder"
LOCKS = frozenset({RUN_LOCK, SWEEP_LOCK, RUN_LOCK + HOLDER, SWEEP_LOCK + HOLDER})
#: Environment variables that name the job a process runs for: the sweep command's id
#: (``conf/config.yaml``), and SLURM's array and job ids.
_JOB_VARIABLES = ("PEERSIM_SWEEP_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID")


class _Held(threading.local):
    """The lock files this thread holds. A holder may take its lock again (a sweep job holds
    its run's lock, and writing the run takes it too): that must not wait for itself."""

    def __init__(self) -> None:
        self.paths: set[str] = set()


_HELD = _Held()


def hold(
    folder: Path, name: str = RUN_LOCK, *, on_wait: Callable[[], object] | None = None
) -> AbstractContextManager[None]:
    """Hold the lock ``folder/name`` for the body, waiting as long as another process (or
    thread) holds it. Reentrant: a thread that holds it already goes straight in.

    Creates the folder if needed. ``on_wait()`` is called once, before waiting, when the lock
    is held elsewhere.
    """
    return _holding(Path(folder), name, wait=True, on_wait=on_wait)


def hold_if_free(folder: Path, name: str = RUN_LOCK) -> AbstractContextManager[bool]:
    """Hold the lock ``folder/name`` for the body if no other process (or thread) holds it;
    yields whether it is held (the body runs either way, and must not touch what the lock
    guards when it is not)."""
    return _holding(Path(folder), name, wait=False, on_wait=None)


@contextmanager
def _holding(
    folder: Path, name: str, *, wait: bool, on_wait: Callable[[], object] | None
) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    # Two spellings of one folder: one lock. Only the folder is resolved: a link planted at
    # the lock's own name is not followed (filelock opens the name with O_NOFOLLOW).
    path = str(folder.resolve() / name)
    if path in _HELD.paths:
        yield True
        return
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            yield False
            return
        if on_wait is not None:
            on_wait()
        lock.acquire()
    _HELD.paths.add(path)
    _write_holder(Path(path + HOLDER))
    try:
        yield True
    finally:
        _HELD.paths.discard(path)
        Path(path + HOLDER).unlink(missing_ok=True)
        lock.release()


def holder(folder: Path, name: str = RUN_LOCK) -> str:
    """Who holds the lock ``folder/name``, as read from its record, e.g. ``host node7, pid
    4242, SLURM job 881_3, since 2026-12-07T06:15:03+00:00``; ``another process`` when the
    record is missing or unreadable. Meaningful only while the lock is held elsewhere."""
    try:
        record = json.loads((Path(folder) / (name + HOLDER)).read_text(encoding="utf-8"))
        who = f"host {record['host']}, pid {record['pid']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    job = record.get("job") or {}
    if job.get("SLURM_ARRAY_JOB_ID"):
        who += f", SLURM job {job['SLURM_ARRAY_JOB_ID']}_{job.get('SLURM_ARRAY_TASK_ID')}"
    elif job.get("SLURM_JOB_ID"):
        who += f", SLURM job {job['SLURM_JOB_ID']}"
    if job.get("PEERSIM_SWEEP_ID"):
        who += f", sweep {job['PEERSIM_SWEEP_ID']}"
    return f"{who}, since {record.get('since')}"


def _write_holder(path: Path) -> None:
    """Write this process's holder record at ``path``. Not atomic (a reader that catches it
    half-written says ``another process``), so no temporary is ever left beside a lock; never
    through a link planted at its name."""
    record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "job": {name: os.environ[name] for name in _JOB_VARIABLES if name in os.environ},
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as handle:
        json.dump(record, handle)
