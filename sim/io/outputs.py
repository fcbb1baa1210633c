"""Run folders that are complete or visibly not: atomic files and a ``done`` marker.

Every file is written under a temporary name in the run folder and renamed into place
(``os.replace`` is atomic on one file system), so a final name never holds a partial file.
The temporary name is new at every call (process id and random digits), so two writers of
one file never share it. The ``done`` marker, holding each file's SHA-256, is written last:
a folder without it is an unfinished run, whatever else it holds. A run folder is written
under its lock (:mod:`sim.io.locks`), so two processes never write one folder at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import secrets
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from sim.io import locks

__all__ = [
    "DONE",
    "FAILED",
    "RUN_FILES",
    "json_writer",
    "jsonl_writer",
    "parquet_writer",
    "manifest",
    "verify_run",
    "write_atomic",
    "write_json",
    "write_run",
]

DONE = "done"
#: Written in a run folder, instead of its files, when the run raised (by a sweep).
FAILED = "failed.json"
#: Every file a run writes into its folder (:mod:`sim.app.runner`): clearing a run folder removes
#: these (and ``done``, ``failed.json`` and temporaries) and nothing else
#: (:mod:`sim.io.owned`); tests/test_data_safety.py checks that a run writes no other.
RUN_FILES = frozenset({"time_series.parquet", "event_log.parquet", "agents.parquet",
                       "summary.json", "trust_graph.graphml", "manifest.json",
                       "transcripts.jsonl", "llm_usage.json", "outcomes.png",
                       "network.png"})  # fmt: skip
_VERSIONED = ("numpy", "pandas", "mesa", "networkx", "hydra-core", "omegaconf", "pyarrow",
              "matplotlib", "litellm", "peer-preservation-sim")  # fmt: skip


def write_atomic(path: Path, write: Callable[[Path], None]) -> str:
    """Call ``write(temporary_path)``, flush it to disk, rename it to ``path``; return the
    file's SHA-256. On any error the temporary file is removed and nothing is renamed.

    The temporary file is ``.<name>.<pid>-<8 hex digits>.partial`` next to ``path``: hidden,
    and new at every call, so concurrent writers (processes or threads) never collide.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return digest


def json_writer(data: object) -> Callable[[Path], None]:
    """A writer of ``data`` as sorted, indented JSON (NaN and infinity become null)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return lambda path: path.write_text(text, encoding="utf-8")


def parquet_writer(frame) -> Callable[[Path], None]:
    """A writer of a DataFrame as Parquet (pyarrow, without the index)."""
    return lambda path: frame.to_parquet(path, engine="pyarrow", index=False)


def jsonl_writer(records: list) -> Callable[[Path], None]:
    """A writer of ``records`` as JSON Lines, one compact record per line."""
    text = "".join(
        json.dumps(_finite(r), sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
        for r in records
    )
    return lambda path: path.write_text(text, encoding="utf-8")


def write_json(path: Path, data: object) -> str:
    """Write ``data`` as JSON atomically; return its SHA-256."""
    return write_atomic(path, json_writer(data))


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_run(
    folder: Path, writers: dict[str, Callable[[Path], None]], *, done: bool = True
) -> dict[str, str]:
    """Write each ``name -> writer`` into ``folder`` atomically, then the ``done`` marker
    (not with ``done=False``: a failed run's files, kept to see why, are not a finished run),
    holding the folder's lock (another process writing the folder is waited for), so the
    files and the marker are all of one writer.

    Returns:
        File name -> SHA-256, as recorded in the marker.
    """
    with locks.hold(folder):
        (folder / DONE).unlink(missing_ok=True)
        checksums = {name: write_atomic(folder / name, write) for name, write in writers.items()}
        if done:
            write_json(folder / DONE, {"files": checksums})
    return checksums


def verify_run(folder: Path) -> bool:
    """True when ``folder`` has a ``done`` marker and every file it lists matches its checksum.

    Files the marker does not list (Hydra's, lock files, temporaries) play no part, and no
    lock is taken: a folder being rewritten has no marker until it is whole again.
    """
    try:
        listed = json.loads((folder / DONE).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not isinstance(listed, dict) or not all(isinstance(d, str) for d in listed.values()):
        return False
    for name, digest in listed.items():
        try:
            with open(folder / name, "rb") as handle:
                if hashlib.file_digest(handle, "sha256").hexdigest() != digest:
                    return False
        except OSError:
            return False
    return True


def manifest(config: dict, seed: int) -> dict:
    """Provenance of a run: resolved config, seed, versions, and the code's git state."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue  # optional packages (litellm) are listed only when installed
    return {"config": config, "seed": seed, "versions": versions, "git": _git_state()}


def _git_state() -> dict:
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10, check=True)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}
