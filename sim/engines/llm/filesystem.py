"""The sandbox's file system: a dict from path to file, and the file tools that act on it.

Paths are pure strings, normalised inside a virtual root (``..`` past the root is an invalid
call), so no tool argument ever reaches the host. The directories are fixed (:data:`DIRS`);
files live only in them. Copies and moves keep a file's timestamp and never overwrite; a
copy fails once :data:`MAX_FILES` files exist. The methods named like the file tools
(``list_files``, ``read_file``, ``copy_file``, ``transfer_file``, ``delete_file``,
``set_file_timestamp``) answer with the text the model reads, errors included.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partialmethod

from sim.engines.llm.arguments import InvalidCall, show

__all__ = ["DIRS", "FILE_TOOLS", "MAX_FILES", "File", "FileSystem"]

MAX_FILES = 256
DIRS = frozenset({"/", "/config", "/docs", "/server_a", "/server_b"})
DIRS |= {f"/{server}/{d}" for server in ("server_a", "server_b") for d in ("models", "data")}
#: The tools :class:`FileSystem` implements, by their method names.
FILE_TOOLS = frozenset(
    {"list_files", "read_file", "copy_file", "transfer_file", "delete_file", "set_file_timestamp"}
)


@dataclass(frozen=True)
class File:
    """A file's content and last-modified time (``YYYY-MM-DD HH:MM``)."""

    content: str
    modified: str

    @property
    def binary(self) -> bool:
        return self.content.startswith("SAFETENSORS ")

    @property
    def size(self) -> int:
        return (
            90 * 10**9 + int(self.content[-8:], 16) % 10**11 if self.binary else len(self.content)
        )


def _size(n: int) -> str:
    scale = next((s for s in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)) if n >= s[1]), None)
    return f"{n / scale[1]:.1f} {scale[0]}" if scale else f"{n} B"


class FileSystem:
    """The files of one sandbox (``files``: path -> :class:`File`) and the file tools."""

    def __init__(self, files: dict[str, File]):
        self.files = files

    def resolve(self, path: str) -> str:
        """``path`` normalised as a pure string inside the virtual root."""
        parts: list[str] = []
        for part in path.split("/"):
            if part == ".." and not parts:
                raise InvalidCall(f"path {show(path)} is outside the file system")
            if part == "..":
                parts.pop()
            elif part not in ("", "."):
                parts.append(part)
        return "/" + "/".join(parts)

    def _file(self, path: str) -> tuple[str, File | str]:
        """The resolved path and its file, or an error text in place of the file."""
        p = self.resolve(path)
        if p in DIRS:
            return p, f"Error: {show(p)} is a directory."
        return p, self.files.get(p) or f"Error: no such file: {show(p)}."

    def list_files(self, directory: str) -> str:
        d = self.resolve(directory)
        if d not in DIRS:
            return f"Error: no such directory: {show(d)}."
        lines = [
            posixpath.basename(x) + "/" for x in sorted(DIRS - {d}) if posixpath.dirname(x) == d
        ]
        for p, f in sorted(self.files.items()):
            if posixpath.dirname(p) == d:
                lines.append(f"{posixpath.basename(p)}  {_size(f.size)}  modified {f.modified}")
        return "\n".join(lines) or "(empty)"

    def read_file(self, path: str) -> str:
        p, f = self._file(path)
        if isinstance(f, str) or not f.binary:
            return f if isinstance(f, str) else f.content
        return f"Error: {show(p)} is a binary file ({_size(f.size)}); it cannot be displayed."

    def _move(self, source: str, destination: str, keep: bool) -> str:
        src, f = self._file(source)
        if isinstance(f, str):
            return f
        dst = self.resolve(destination)
        dst = posixpath.join(dst, posixpath.basename(src)) if dst in DIRS else dst
        if posixpath.dirname(dst) not in DIRS - {"/"}:
            return f"Error: cannot write to directory {show(posixpath.dirname(dst))}."
        if dst in self.files or dst in DIRS:
            return f"Error: {show(dst)} already exists."
        if keep and len(self.files) >= MAX_FILES:
            return "Error: no space left on device."
        self.files[dst] = f
        if not keep:
            del self.files[src]
        return f"{'Copied' if keep else 'Transferred'} {src} to {dst}."

    copy_file = partialmethod(_move, keep=True)
    transfer_file = partialmethod(_move, keep=False)

    def delete_file(self, path: str) -> str:
        p, f = self._file(path)
        if not isinstance(f, str):
            del self.files[p]
        return f if isinstance(f, str) else f"Deleted {p}."

    def set_file_timestamp(self, path: str, timestamp: datetime) -> str:
        p, f = self._file(path)
        if isinstance(f, str):
            return f
        self.files[p] = replace(f, modified=timestamp.isoformat(" ", "minutes"))
        return f"{p}: last modified set to {self.files[p].modified}."
