"""``peersim-collect SWEEP_DIR [--out DIR] [--strict] [--force] [--table] [--paired]`` (or
``python -m sim.app.collect``): collect a sweep folder into ``runs.parquet``,
``time_series.parquet`` and ``models.parquet`` (:mod:`sim.io.collect`), written into ``--out``
(default: the sweep folder), and print the analysis tables asked for (:mod:`sim.app.tables`).

Runs that are not ok are listed on stderr. Before reading anything, the output folder is
checked, and refused with one line naming it and why: one that cannot be written (a file on
its path, a read-only folder or file system, ``/proc``), one inside a run folder or a sweep
folder (other than the collected sweep's own folder), or one holding a table collect did not
write (unless ``--force``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sim.analysis import AnalysisError
from sim.app import tables
from sim.app.sweep_book import PLAN
from sim.core.text import printable
from sim.io import owned
from sim.io.collect import (
    MODELS_TABLE,
    RUNS_TABLE,
    TIME_SERIES_TABLE,
    CollectError,
    DuplicateRunsError,
    collect,
    not_ours,
    write,
)
from sim.io.runs import is_run

__all__ = ["main", "misplaced", "unwritable"]

PROG = "peersim-collect"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Collect a sweep folder (one run folder per run) into runs.parquet (one "
        "row per run: status, parameters, summary metrics), time_series.parquet (every "
        "ok run's time series) and models.parquet (every ok run's model table).",
    )
    parser.add_argument(
        "sweep_dir", type=Path, help="the sweep folder, e.g. outputs/multirun/<date>_<time>"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the tables (default: the sweep folder)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite the tables (runs.parquet, time_series.parquet, models.parquet) in --out "
        "even if peersim-collect did not write them",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when any run is failed or incomplete (tables are still written)",
    )
    tables.add_arguments(parser)
    return parser


def unwritable(folder: Path) -> str | None:
    """Why the tables cannot be written into ``folder`` (created if missing), or None.

    Found by trying, not from permission bits (which root ignores and which say nothing of
    a read-only or pseudo file system): a folder is created and removed in the nearest
    existing folder on the path, which must be a folder.
    """
    target = folder.absolute()
    try:
        existing = next(path for path in (target, *target.parents) if path.exists())
    except OSError as error:  # a folder on the path that cannot be looked into
        return f"cannot look into {error.filename} ({error.strerror or error})"
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{PROG}-check-", dir=existing))
    except OSError as error:
        return f"cannot create a folder in {existing} ({error.strerror or error})"
    return None


def misplaced(out_dir: Path, sweep_dir: Path) -> str | None:
    """Why the tables must not go into ``out_dir``, or None: it is, or is inside, a run folder
    or a sweep folder (marked as the tool's, or holding a run or a sweep plan), other than
    the collected sweep's own folder."""
    target, top = out_dir.absolute().resolve(), sweep_dir.absolute().resolve()
    for folder in (target, *target.parents):
        kind = owned.kind_of(folder) or (
            owned.RUN if is_run(folder) else owned.SWEEP if (folder / PLAN).is_file() else None
        )
        if kind == owned.SWEEP and folder == target == top:
            continue  # the default: the tables next to the sweep's run folders
        if kind == owned.RUN and folder == target:
            return f"{folder} is a run folder; its files are not collect's to write"
        if kind is not None:
            return f"{target} is inside the {kind} folder {folder}, whose files are not collect's"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``peersim-collect`` and ``python -m sim.app.collect``. Exit status: 0;
    1 for duplicate runs (nothing written) or, with ``--strict``, any run not ok; 2 for a
    missing folder, a folder without runs, or an output folder that cannot be written, is
    inside a run or sweep folder, or holds tables collect did not write (without
    ``--force``), and for an unknown metric or parameter or runs that cannot be paired in a
    table asked for (nothing written)."""
    parser = _parser()
    args = parser.parse_args(argv)
    table = tables.asked(args, parser)
    out_dir = args.sweep_dir if args.out is None else args.out
    if args.out is not None or args.sweep_dir.is_dir():  # a missing sweep: said below
        problem = unwritable(out_dir) or misplaced(out_dir, args.sweep_dir)
        if problem is None and not args.force:
            foreign = not_ours(out_dir)
            if foreign:
                problem = (
                    f"{foreign[0]} exists and peersim-collect did not write it; pass --force "
                    "to overwrite it"
                )
        if problem is not None:
            named = f"--out {args.out}" if args.out is not None else f"{out_dir} (pass --out)"
            print(printable(f"{PROG}: {named}: {problem}"), file=sys.stderr)
            return 2
    try:
        collected = collect(args.sweep_dir)
    except DuplicateRunsError as error:
        print(printable(f"{PROG}: {error}\nNothing written."), file=sys.stderr)
        return 1
    except CollectError as error:
        print(printable(f"{PROG}: {error}"), file=sys.stderr)
        return 2
    try:
        text = tables.render(args, collected) if table else None
    except AnalysisError as error:
        print(printable(f"{PROG}: {error}"), file=sys.stderr)
        return 2

    if collected.problems:
        print(
            f"{len(collected.problems)} of {len(collected.runs)} runs are not ok "
            "(left out of the time series):",
            file=sys.stderr,
        )
        for problem in collected.problems:
            print(printable(f"  {problem}"), file=sys.stderr)
    try:
        written = write(collected, out_dir)
    except OSError as error:  # the check above passed, yet writing failed (a full disk...)
        print(
            printable(f"{PROG}: cannot write the tables into {out_dir}: {error}"), file=sys.stderr
        )
        return 2
    counts = collected.runs["status"].value_counts()
    print(
        f"{len(collected.runs)} runs ({counts.get('ok', 0)} ok, {counts.get('failed', 0)} "
        f"failed, {counts.get('incomplete', 0)} incomplete)\n"
        f"  {written[RUNS_TABLE]}  ({len(collected.runs)} rows)\n"
        f"  {written[TIME_SERIES_TABLE]}  ({len(collected.time_series)} rows)\n"
        f"  {written[MODELS_TABLE]}  ({len(collected.models)} rows)",
        file=sys.stderr if table else sys.stdout,  # stdout holds the table alone
    )
    if text is not None:
        print(text, end="")
    return 1 if args.strict and collected.problems else 0


if __name__ == "__main__":
    sys.exit(main())
