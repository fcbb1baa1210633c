"""Collect a sweep folder into tables: one row per run, every run's time series, and every
run's model table.

:func:`collect` finds every run folder under the sweep folder (:mod:`sim.io.runs`) and
returns, and :func:`write` writes atomically (the command line: :mod:`sim.app.collect`):

- ``runs.parquet``: one row per run: ``run`` (the folder, relative to the sweep folder),
  ``status`` (``ok``, ``failed`` or ``incomplete``), one column per overridden parameter
  (typed as Hydra parses it), then the summary metrics of ``ok`` runs (nested entries
  flattened as ``llm_outcomes.comply``; null for runs that are not ``ok``).
- ``time_series.parquet``: every ``ok`` run's time series, with ``run`` and the parameter
  columns prepended.
- ``models.parquet``: every ``ok`` run's model table (network position and shutdown record
  per model), prepended the same way.

Every table lists its parameter columns in ``attrs[PARAMETERS_ATTR]``, which Parquet keeps.

Runs that are not ok are listed as problems; two run folders with the same overrides are
refused. :data:`RECORD`, written with the tables, holds their checksums, so that a later
collect replaces its own tables and no one else's (:func:`not_ours`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.files import open_regular, write_atomic
from sim.io import outputs
from sim.io.outputs import FAILED
from sim.io.runs import OVERRIDES, SUMMARY, Run, find_runs, read_run

__all__ = [
    "PARAMETERS_ATTR",
    "RUNS_TABLE",
    "TIME_SERIES_TABLE",
    "CollectError",
    "Collected",
    "MODELS_TABLE",
    "DuplicateRunsError",
    "Problem",
    "collect",
    "not_ours",
    "write",
]

#: Files written by :func:`write`.
RUNS_TABLE = "runs.parquet"
TIME_SERIES_TABLE = "time_series.parquet"
MODELS_TABLE = "models.parquet"
#: Each table :func:`write` writes, and the attribute of :class:`Collected` holding it.
TABLES = {TIME_SERIES_TABLE: "time_series", MODELS_TABLE: "models", RUNS_TABLE: "runs"}
#: Written by :func:`write` next to the tables: their SHA-256, by which a later collect
#: tells its own tables (which it may replace) from files it did not write.
RECORD = ".peersim-collect.json"
#: Key of both tables' ``attrs`` (kept in the Parquet files) listing the parameter columns, so
#: that a reader of the files alone tells parameters from metrics (:mod:`sim.analysis`).
PARAMETERS_ATTR = "parameters"


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
        models: every ``ok`` run's model table, the same way.
        problems: the runs that are not ``ok``, in the order of ``runs``.
        parameters: the parameter columns, in order of first appearance.
    """

    runs: pd.DataFrame
    time_series: pd.DataFrame
    models: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[Problem] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)


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
    runs = [read_run(folder, sweep_dir) for folder in folders]
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
    keys = ["run", *param_columns]
    time_series = _long_table(runs, "time_series", table, keys)
    models = _long_table(runs, "models", table, keys)
    for frame in (table, time_series, models):
        frame.attrs[PARAMETERS_ATTR] = list(param_columns)
    return Collected(
        runs=table,
        time_series=time_series,
        models=models,
        problems=problems,
        parameters=param_columns,
    )


def _refuse_duplicates(runs: list[Run]) -> None:
    groups: dict[tuple, list[Run]] = {}
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


def _long_table(runs: list[Run], name: str, table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every ok run's table ``name`` (a :class:`Run` attribute) with the ``keys`` columns of
    its ``table`` row prepended."""
    frames = []
    for index, run in enumerate(runs):
        if getattr(run, name) is None:
            continue
        series = getattr(run, name).reset_index(drop=True)
        series = series.rename(columns={c: f"{name}.{c}" for c in series if c in keys})
        prefix = table.loc[[index] * len(series), keys].reset_index(drop=True)
        frames.append(pd.concat([prefix, series], axis=1))
    if not frames:
        return table.loc[[], keys].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- writing


def not_ours(out_dir: str | Path) -> list[Path]:
    """The files in ``out_dir`` that :func:`write` would replace and did not write: tables
    whose SHA-256 is not the one its :data:`RECORD` holds."""
    out_dir = Path(out_dir)
    try:
        record = json.loads((out_dir / RECORD).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    found = []
    for name in TABLES:
        path = out_dir / name
        if not path.exists():
            continue
        try:
            with open_regular(path) as handle:
                mine = hashlib.file_digest(handle, "sha256").hexdigest() == record.get(name)
        except OSError:  # a folder or a link of that name, say
            mine = False
        if not mine:
            found.append(path)
    return found


def write(collected: Collected, out_dir: str | Path) -> dict[str, Path]:
    """Write the tables (:data:`TABLES`) into ``out_dir``, each atomically
    (:func:`sim.core.files.write_atomic`), then their checksums in :data:`RECORD`. Returns
    table name -> path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, checksums = {}, {}
    for name, attribute in TABLES.items():
        path = out_dir / name
        checksums[name] = write_atomic(path, outputs.parquet_writer(getattr(collected, attribute)))
        written[name] = path
    outputs.write_json(out_dir / RECORD, {"files": checksums})
    return written
