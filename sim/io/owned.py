"""Folders this tool made and files it wrote: nothing else is ever removed or overwritten.

A run, sweep or probe folder the tool creates gets a marker, :data:`MARKER` (``.peersim``,
a small JSON object: ``kind`` ``run``, ``sweep`` or ``probe``, ``created``), written before
any other file of the tool's. A folder may be written to when it is new, empty, or marked
with the kind it is used as (:func:`problem`); Hydra's own files (``.hydra/``, ``cli.log``,
``multirun.yaml``) and the lock files (and the marker's temporary) count as the tool's,
since Hydra and a concurrent command of this tool may create them before the marker. A folder
with a link where the tool or Hydra opens a file by name (:data:`OPENED_BY_NAME`) is refused:
writing there would follow the link out of the folder. A run folder is cleared only of the
files a run writes, by name (:func:`removable`): anything else in it, whoever put it there,
stays.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from sim.core.files import TEMPORARY_SUFFIX, open_regular
from sim.io import locks
from sim.io.outputs import DONE, FAILED, RUN_FILES, write_json

__all__ = ["MARKER", "PROBE", "RUN", "SWEEP", "claim", "kind_of", "problem", "removable"]

MARKER = ".peersim"
RUN = "run"
SWEEP = "sweep"
#: A ``peersim-probe`` output folder (sim.app.probe).
PROBE = "probe"
#: What Hydra writes into a run folder (``.hydra/``, ``cli.log``) or a sweep folder
#: (``multirun.yaml``) before the tool's own code runs.
HYDRA = frozenset({".hydra", "cli.log", "multirun.yaml"})
#: The names a folder without a marker may hold and still count as the tool's.
UNMARKED = HYDRA | locks.LOCKS
#: The paths in a folder that the tool or Hydra open by name to write (the rest are written
#: by :func:`sim.core.files.write_atomic`, which never opens a name it did not create): a
#: link at any of them is refused, since writing would follow it out of the folder.
OPENED_BY_NAME = (
    HYDRA
    | locks.LOCKS
    | {MARKER}
    | {f".hydra/{name}" for name in ("config.yaml", "hydra.yaml", "overrides.yaml")}
)
#: A temporary of the file ``<name>``: ``.<name>.<8 random characters>.partial``
#: (:func:`sim.core.files.write_atomic`), or earlier versions' ``.<name>.<pid>-<8 hex>.partial``
#: and ``.<name>.partial``.
_PARTIAL = re.compile(r"\.(.+?)(?:\.[a-z0-9_]{8}|\.\d+-[0-9a-f]{8})?" + re.escape(TEMPORARY_SUFFIX))
#: How many foreign names a message lists.
_SHOWN = 5


def kind_of(folder: Path) -> str | None:
    """The kind in ``folder``'s marker (``run``, ``sweep``), or None without a readable one."""
    try:
        with open_regular(folder / MARKER) as handle:
            kind = json.load(handle).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def problem(folder: Path, kind: str) -> str | None:
    """Why the tool may not use ``folder`` as a ``kind`` folder, or None when it is new,
    empty, marked as ``kind``, or holds only what :data:`UNMARKED` names (and, in a sweep
    folder, run folders that pass this check).

    The reason reads after the folder's path, e.g. ``holds files peersim did not write
    (notes.txt, sub/)``.
    """
    if not folder.is_dir():
        return None  # missing (created by the run), or a file: check_output_dir says so
    links = sorted(name for name in OPENED_BY_NAME if (folder / name).is_symlink())
    if links:
        return f"holds a link where peersim writes ({', '.join(links)}); remove it"
    marked = kind_of(folder)
    if marked == kind:
        return None
    if marked is not None:
        return f"is a peersim {marked} folder, not a {kind} folder"
    foreign = sorted(
        f"{p.name}/" if p.is_dir() else p.name
        for p in folder.iterdir()
        if _stem(p.name) not in UNMARKED | {MARKER} and not (kind == SWEEP and _run_of_ours(p))
    )
    if not foreign:
        return None
    more = f", and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
    return f"holds files peersim did not write ({', '.join(foreign[:_SHOWN])}{more})"


def _run_of_ours(path: Path) -> bool:
    # A sweep started at the same moment may have made its run folders before its marker.
    return path.is_dir() and problem(path, RUN) is None


def claim(folder: Path, kind: str) -> None:
    """Mark ``folder`` (created if missing) as a ``kind`` folder of this tool, unless it is
    marked already."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind_of(folder) is None:
        write_json(folder / MARKER, {"kind": kind, "created": datetime.now(UTC).isoformat()})


def removable(name: str) -> bool:
    """Whether clearing a run folder may remove the file ``name``: a file a run writes
    (:data:`sim.io.outputs.RUN_FILES`, the ``done`` marker, ``failed.json``) or one of its
    temporaries. Hydra's files, the locks and the marker stay."""
    return _stem(name) in RUN_FILES | {DONE, FAILED}


def _stem(name: str) -> str:
    """The file a temporary ``name`` is written for, or ``name`` itself."""
    partial = _PARTIAL.fullmatch(name)
    return partial.group(1) if partial else name
