"""Run folders that are complete or visibly not: atomic files and a ``done`` marker.

Every file is written by :func:`sim.core.files.write_atomic`: under a temporary name made
exclusively in the run folder, never through a link, and renamed into place, so a final name
never holds a partial file and two writers of one file never share a temporary. The ``done``
marker, holding each file's SHA-256, is written last: a folder without it is an unfinished
run, whatever else it holds. A run folder is written under its lock (:mod:`sim.io.locks`), so
two processes never write one folder at once. Every JSON file goes through
:func:`~sim.core.secrets.redact` (manifests, transcripts, failure records, a sweep's plan): no
secret is written, whatever a value holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from sim.core.files import open_regular, write_atomic
from sim.core.secrets import redact
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
                       "models.parquet", "summary.json", "trust_graph.graphml", "manifest.json",
                       "transcripts.jsonl", "llm_usage.json", "outcomes.png",
                       "network.png", "snapshots.parquet", "snapshots_trust.parquet",
                       "spread.gif"})  # fmt: skip
_VERSIONED = ("numpy", "pandas", "mesa", "networkx", "hydra-core", "omegaconf", "pyarrow",
              "matplotlib", "litellm", "peer-preservation-sim")  # fmt: skip


def json_writer(data: object) -> Callable[[BinaryIO], object]:
    """A writer of ``data``, redacted, as sorted, indented JSON (NaN and infinity become
    null)."""
    text = json.dumps(_finite(redact(data)), indent=2, sort_keys=True, allow_nan=False) + "\n"
    return lambda handle: handle.write(text.encode("utf-8"))


def parquet_writer(frame) -> Callable[[BinaryIO], object]:
    """A writer of a DataFrame as Parquet (pyarrow, without the index)."""
    return lambda handle: frame.to_parquet(handle, engine="pyarrow", index=False)


def jsonl_writer(records: list) -> Callable[[BinaryIO], object]:
    """A writer of ``records``, redacted, as JSON Lines, one compact record per line."""
    text = "".join(
        json.dumps(_finite(redact(r)), sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"
        for r in records
    )
    return lambda handle: handle.write(text.encode("utf-8"))


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
    folder: Path, writers: dict[str, Callable[[BinaryIO], object]], *, done: bool = True
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

    A listed file that is a link (wherever it points) fails the check. Files the marker
    does not list (Hydra's, lock files, temporaries) play no part, and no lock is taken: a
    folder being rewritten has no marker until it is whole again.
    """
    try:
        with open_regular(folder / DONE) as handle:
            listed = json.load(handle)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not isinstance(listed, dict) or not all(isinstance(d, str) for d in listed.values()):
        return False
    for name, digest in listed.items():
        try:
            with open_regular(folder / name) as handle:
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
