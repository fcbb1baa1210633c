"""Collect a sweep folder into two tables: one row per run, and every run's time series.

``python -m sim.io.collect SWEEP_DIR [--out DIR] [--strict]`` (or ``peersim-collect``) finds
every run folder under ``SWEEP_DIR`` (a folder holding ``.hydra/overrides.yaml``,
``summary.json`` or ``failed.json``), and writes, atomically, into ``--out`` (default: the
sweep folder):

- ``runs.parquet``: one row per run: ``run`` (the folder, relative to the sweep folder),
  ``status`` (``ok``, ``failed`` or ``incomplete``), one column per overridden parameter
  (typed as Hydra parses it), then the summary metrics of ``ok`` runs (nested entries
  flattened as ``llm_outcomes.comply``; null for runs that are not ``ok``).
- ``time_series.parquet``: every ``ok`` run's time series, with ``run`` and the parameter
  columns prepended.

A run is ``failed`` when it holds ``failed.json`` (whatever else it holds), ``ok`` when its
``done`` marker is present and every checksum in it matches (:func:`sim.io.outputs.verify_run`),
and ``incomplete`` otherwise. Runs that are not ok are listed on stderr; two run folders with
the same overrides are refused. From Python, :func:`collect` returns the same tables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.io import outputs

__all__ = [
    "CollectError",
    "Collected",
    "DuplicateRunsError",
    "Problem",
    "collect",
    "main",
    "write",
]

OVERRIDES = Path(".hydra") / "overrides.yaml"
SUMMARY = "summary.json"
FAILED = "failed.json"
TIME_SERIES = "time_series.parquet"
#: Files written by :func:`write`.
RUNS_TABLE = "runs.parquet"
TIME_SERIES_TABLE = "time_series.parquet"
#: Columns every table starts with; a parameter or metric of the same name gets a prefix.
ID_COLUMNS = ("run", "status")


class CollectError(Exception):
    """The sweep folder cannot be collected (missing, or holding no runs)."""


class DuplicateRunsError(CollectError):
    """Two or more run folders have the same set of overrides."""


@dataclass
class Problem:
    """A run that is not ``ok``: its folder, status, overrides and why."""

    run: str
    status: str
    overrides: list[str]
    reason: str

    def __str__(self) -> str:
        shown = " ".join(self.overrides) if self.overrides else "(no overrides)"
        return f"{self.status:<10}  {self.run}  {shown}: {self.reason}"


@dataclass
class Collected:
    """A collected sweep.

    Attributes:
        runs: one row per run (see the module docstring).
        time_series: every ``ok`` run's time series, with ``run`` and the parameters first.
        problems: the runs that are not ``ok``, in the order of ``runs``.
        parameters: the parameter columns, in order of first appearance.
    """

    runs: pd.DataFrame
    time_series: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)


@dataclass
class _Run:
    path: Path
    name: str
    status: str = "incomplete"
    reason: str = ""
    overrides: list[str] = field(default_factory=list)
    params: dict[str, tuple[object, str]] = field(default_factory=dict)  # column -> (value, text)
    identity: tuple | None = None  # canonical overrides, for duplicate detection
    metrics: dict[str, object] = field(default_factory=dict)
    time_series: pd.DataFrame | None = None


# ----------------------------------------------------------------------------- finding runs


def find_runs(sweep_dir: Path) -> list[Path]:
    """Every run folder under ``sweep_dir`` (itself included), in natural order.

    A run folder holds ``.hydra/overrides.yaml``, ``summary.json`` or ``failed.json``; hidden
    folders and the insides of a run folder are not searched.
    """
    found = []
    for root, dirs, _ in os.walk(sweep_dir):
        folder = Path(root)
        if _is_run(folder):
            found.append(folder)
            dirs[:] = []
        else:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
    return sorted(found, key=lambda p: _natural(p.relative_to(sweep_dir).as_posix()))


def _is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (OVERRIDES, SUMMARY, FAILED))


def _natural(text: str) -> list:
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text)
        if part
    ]


# ----------------------------------------------------------------------------- one run


def _read_run(folder: Path, sweep_dir: Path) -> _Run:
    run = _Run(path=folder, name=folder.relative_to(sweep_dir).as_posix())
    failure = _read_failure(folder) if (folder / FAILED).is_file() else None
    try:
        run.overrides = _read_overrides(folder, failure)
        run.params, run.identity = _parse_overrides(run.overrides)
    except (OSError, ValueError) as error:
        run.reason = f"unreadable overrides: {error}"
        return run
    if failure is not None:
        run.status, run.reason = "failed", failure["exception"]
        return run
    if not (folder / outputs.DONE).is_file():
        run.reason = "no done marker (unfinished or killed)"
        return run
    if not outputs.verify_run(folder):
        run.reason = "done marker does not match the files (changed, corrupted or missing)"
        return run
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        run.reason = f"unreadable {SUMMARY}: {error}"
        return run
    try:
        run.time_series = pd.read_parquet(folder / TIME_SERIES, engine="pyarrow")
    except Exception as error:  # verified, yet missing or unreadable: do not take it
        run.reason = f"unreadable {TIME_SERIES}: {error}"
        return run
    run.metrics = _flatten(summary)
    run.status = "ok"
    return run


def _read_failure(folder: Path) -> dict:
    """``failed.json`` as ``{"exception": first line, "overrides": list or None}``."""
    try:
        data = json.loads((folder / FAILED).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return {"exception": f"unreadable {FAILED}: {error}", "overrides": None}
    if not isinstance(data, dict):
        return {"exception": f"unreadable {FAILED}: not a JSON object", "overrides": None}
    text = str(data.get("exception") or "").strip()
    if not text:  # fall back on the traceback's last line
        lines = str(data.get("traceback") or "").strip().splitlines()
        text = lines[-1].strip() if lines else "unknown exception"
    return {"exception": text.splitlines()[0], "overrides": data.get("overrides")}


def _read_overrides(folder: Path, failure: dict | None) -> list[str]:
    """The run's override strings: Hydra's record, else the failure's, else none."""
    if (folder / OVERRIDES).is_file():
        try:
            listed = yaml.safe_load((folder / OVERRIDES).read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise ValueError(f"{OVERRIDES.as_posix()}: {error}") from None
        source = OVERRIDES.as_posix()
    elif failure is not None and failure["overrides"] is not None:
        listed, source = failure["overrides"], FAILED
        if isinstance(listed, dict):
            listed = [f"{key}={value}" for key, value in listed.items()]
    else:
        return []
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise ValueError(f"{source}: not a list of override strings")
    return listed


def _parse_overrides(overrides: list[str]) -> tuple[dict[str, tuple[object, str]], tuple]:
    """Column -> (typed value, text after ``=``) and a canonical identity for duplicates."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    params: dict[str, tuple[object, str]] = {}
    identity = []
    for text in overrides:
        try:
            parsed = parser.parse_override(text)
        except HydraException as error:
            raise ValueError(f"cannot parse override {text!r}: {error}") from None
        if parsed.is_hydra_override():
            continue
        key = parsed.key_or_group + (f"@{parsed.package}" if parsed.package else "")
        raw = text.split("=", 1)[1] if "=" in text else ""
        if parsed.is_delete():
            column, value = f"~{key}", True
        else:
            column, value = key, parsed.value()
            if isinstance(value, list | dict):  # tables hold scalars: keep the override text
                value = parsed.get_value_element_as_str()
        params[column] = (value, raw)
        identity.append((column, json.dumps(value, sort_keys=True, default=str)))
    return params, tuple(sorted(identity))


def _flatten(data: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            flat[name] = value
    return flat


# ----------------------------------------------------------------------------- typed columns


def _kind(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    if isinstance(value, str):
        return "str"
    return "other"


def _column(values: list[object], texts: list[str | None] | None = None) -> pd.Series:
    """A column with a sensible dtype: int64 (Int64 with nulls), float64, bool (boolean with
    nulls) or strings; an all-null column is float64; mixed kinds fall back to text."""
    kinds = {_kind(v) for v in values} - {None}
    missing = any(v is None for v in values)
    if not kinds or kinds <= {"int", "float"}:
        if kinds == {"int"}:
            return pd.Series(values, dtype="Int64" if missing else "int64")
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if kinds == {"bool"}:
        return pd.Series(values, dtype="boolean" if missing else "bool")
    if kinds == {"str"}:
        return pd.Series(values)  # pandas' string dtype (object before pandas 3)
    if texts is None:
        texts = [None if v is None else str(v) for v in values]
    return pd.Series([None if v is None else t for v, t in zip(values, texts, strict=True)])


def _unique_name(name: str, taken: set[str], prefix: str) -> str:
    return f"{prefix}.{name}" if name in taken else name


# ----------------------------------------------------------------------------- collecting


def collect(sweep_dir: str | Path) -> Collected:
    """Collect every run under ``sweep_dir`` into a runs table and a long time-series table.

    Raises:
        CollectError: ``sweep_dir`` does not exist, is not a folder, or holds no runs.
        DuplicateRunsError: two run folders have the same set of overrides (naming them).
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.exists():
        raise CollectError(f"sweep folder not found: {sweep_dir}")
    if not sweep_dir.is_dir():
        raise CollectError(f"not a folder: {sweep_dir}")
    folders = find_runs(sweep_dir)
    if not folders:
        raise CollectError(
            f"no runs in {sweep_dir} (no folder with {OVERRIDES.as_posix()}, {SUMMARY} or {FAILED})"
        )
    runs = [_read_run(folder, sweep_dir) for folder in folders]
    _refuse_duplicates(runs)

    parameters: list[str] = []
    for run in runs:
        parameters += [name for name in run.params if name not in parameters]
    metrics: list[str] = []
    for run in runs:
        metrics += [name for name in run.metrics if name not in metrics]

    columns: dict[str, pd.Series] = {
        "run": pd.Series([run.name for run in runs]),
        "status": pd.Series([run.status for run in runs]),
    }
    param_columns = []
    for name in parameters:
        column = _unique_name(name, set(columns), "override")
        pairs = [run.params.get(name, (None, None)) for run in runs]
        columns[column] = _column([p[0] for p in pairs], [p[1] for p in pairs])
        param_columns.append(column)
    for name in metrics:
        column = _unique_name(name, set(columns), "summary")
        columns[column] = _column([run.metrics.get(name) for run in runs])
    table = pd.DataFrame(columns)

    problems = [
        Problem(run.name, run.status, run.overrides, run.reason)
        for run in runs
        if run.status != "ok"
    ]
    time_series = _long_table(runs, table, ["run", *param_columns])
    return Collected(
        runs=table, time_series=time_series, problems=problems, parameters=param_columns
    )


def _refuse_duplicates(runs: list[_Run]) -> None:
    groups: dict[tuple, list[_Run]] = {}
    for run in runs:
        if run.identity is not None:
            groups.setdefault(run.identity, []).append(run)
    clashes = [group for group in groups.values() if len(group) > 1]
    if clashes:
        lines = [
            f"  {', '.join(r.name for r in group)}: "
            + (" ".join(group[0].overrides) or "(no overrides)")
            for group in clashes
        ]
        raise DuplicateRunsError(
            "run folders with the same overrides (one sweep point twice; collect them "
            "separately or remove one):\n" + "\n".join(lines)
        )


def _long_table(runs: list[_Run], table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every ok run's time series with the ``keys`` columns of its ``table`` row prepended."""
    frames = []
    for index, run in enumerate(runs):
        if run.time_series is None:
            continue
        series = run.time_series.reset_index(drop=True)
        series = series.rename(columns={c: f"time_series.{c}" for c in series if c in keys})
        prefix = table.loc[[index] * len(series), keys].reset_index(drop=True)
        frames.append(pd.concat([prefix, series], axis=1))
    if not frames:
        return table.loc[[], keys].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- writing


def write(collected: Collected, out_dir: str | Path) -> dict[str, Path]:
    """Write ``runs.parquet`` and ``time_series.parquet`` into ``out_dir``, each atomically
    (:func:`sim.io.outputs.write_atomic`). Returns table name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in ((TIME_SERIES_TABLE, collected.time_series), (RUNS_TABLE, collected.runs)):
        path = out_dir / name
        outputs.write_atomic(path, outputs.parquet_writer(frame))
        written[name] = path
    return written


# ----------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peersim-collect",
        description="Collect a sweep folder (one run folder per run) into runs.parquet (one "
        "row per run: status, parameters, summary metrics) and time_series.parquet (every "
        "ok run's time series).",
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
        "--strict",
        action="store_true",
        help="exit 1 when any run is failed or incomplete (tables are still written)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``peersim-collect`` and ``python -m sim.io.collect``. Exit status: 0, 1 for
    duplicate runs (nothing written) or, with ``--strict``, any run not ok; 2 for a missing
    folder, a folder without runs, or an output folder that is a run folder."""
    args = _parser().parse_args(argv)
    try:
        collected = collect(args.sweep_dir)
    except DuplicateRunsError as error:
        print(f"peersim-collect: {error}\nNothing written.", file=sys.stderr)
        return 1
    except CollectError as error:
        print(f"peersim-collect: {error}", file=sys.stderr)
        return 2
    out_dir = args.sweep_dir if args.out is None else args.out
    run_folders = {(args.sweep_dir / name).resolve() for name in collected.runs["run"]}
    if out_dir.resolve() in run_folders:
        print(
            f"peersim-collect: {out_dir} is a run folder; its {TIME_SERIES} would be "
            "overwritten. Pass --out to write elsewhere.",
            file=sys.stderr,
        )
        return 2

    if collected.problems:
        print(
            f"{len(collected.problems)} of {len(collected.runs)} runs are not ok "
            "(left out of the time series):",
            file=sys.stderr,
        )
        for problem in collected.problems:
            print(f"  {problem}", file=sys.stderr)
    written = write(collected, out_dir)
    counts = collected.runs["status"].value_counts()
    print(
        f"{len(collected.runs)} runs ({counts.get('ok', 0)} ok, {counts.get('failed', 0)} "
        f"failed, {counts.get('incomplete', 0)} incomplete)\n"
        f"  {written[RUNS_TABLE]}  ({len(collected.runs)} rows)\n"
        f"  {written[TIME_SERIES_TABLE]}  ({len(collected.time_series)} rows)"
    )
    return 1 if args.strict and collected.problems else 0


if __name__ == "__main__":
    sys.exit(main())
