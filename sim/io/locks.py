"""Locks on run and sweep folders, so that two processes never write one folder at once.

A lock is an empty hidden file in the folder it guards (:data:`RUN_LOCK`, :data:`SWEEP_LOCK`),
held with the operating system's file lock (``flock``, through the ``filelock`` package).
The operating system releases it when its process ends, however it ends (SIGKILL included),
so a killed holder never leaves a stale lock behind; the file itself stays, and must stay:
removing a lock file while it is held would let a second process lock a new file of the
same name. Lock files are not outputs: no ``done`` marker lists them, and collecting a sweep
ignores them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["LOCKS", "RUN_LOCK", "SWEEP_LOCK", "hold", "hold_if_free"]

#: A run folder's lock: held while the run is computed (in a sweep) and while it is written.
RUN_LOCK = ".run.lock"
#: A sweep folder's lock: held while a sweep command writes its plan.
SWEEP_LOCK = ".sweep.lock"
LOCKS = frozenset({RUN_LOCK, SWEEP_LOCK})


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
    path = str((folder / name).resolve())  # two spellings of one folder: one lock
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
    try:
        yield True
    finally:
        _HELD.paths.discard(path)
        lock.release()
