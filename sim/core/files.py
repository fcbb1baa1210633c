"""Files written whole or not at all, never through a link, and read only when regular.

A file is written under a temporary name made exclusively in its destination folder by
:func:`tempfile.mkstemp` (``O_CREAT | O_EXCL | O_NOFOLLOW``, a new random name at every call):
a link or file planted in the folder, whatever its name, is never opened. The temporary is
then renamed into place (``os.replace``: atomic on one file system, and it replaces a link at
the final name instead of following it), so a final name never holds a partial file and no
file outside the folder is ever written.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["TEMPORARY_SUFFIX", "open_regular", "write_atomic"]

#: The end of every temporary's name: ``.<name>.<8 random characters>.partial``.
TEMPORARY_SUFFIX = ".partial"


def _umask() -> int:
    # mkstemp makes files readable by their owner only; outputs get the usual mode instead
    # (0666 less the umask), as a plain open() would give them. Read once, at import, while
    # no other thread can be changing it.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> str:
    """Call ``write(handle)`` on a new temporary file beside ``path`` (opened for binary
    writing), flush it to disk, rename it to ``path``; return the file's SHA-256. On any
    error the temporary file is removed and nothing is renamed."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX
    )
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "w+b") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            handle.seek(0)
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file and not a link.

    Raises:
        OSError: when it is missing, unreadable, a link, or not a regular file (a folder,
            a FIFO or a device, which could block or never end).
    """
    # O_NONBLOCK: opening a planted FIFO must not wait for a writer.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
