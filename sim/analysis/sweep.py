"""A collected sweep as the analysis sees it: its ok runs, their time series, which columns
are parameters and which are metrics, which parameters the sweep varied, and the checks of
names asked for (one-line :class:`AnalysisError` for an unknown metric or key)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.text import setting_label
from sim.io.collect import PARAMETERS_ATTR, RUNS_TABLE, TIME_SERIES_TABLE, Collected

__all__ = ["REPLICATE_KEYS", "AnalysisError", "Sweep", "read_sweep", "split"]

#: Parameters that name a replicate rather than a design: runs are paired on them, and they
#: are not settings of their own in a table.
REPLICATE_KEYS = ("seed", "replicate")
#: Columns of the tables that are neither parameters nor metrics.
_BOOKKEEPING = ("run", "status", "step")


class AnalysisError(ValueError):
    """A sweep cannot be analysed as asked (an unknown metric or parameter, runs that cannot
    be paired, tables that do not name their parameters); the message is one line."""


@dataclass(frozen=True)
class Sweep:
    """The ok runs of a collected sweep and their time series.

    Attributes:
        runs: one row per ok run: ``run``, ``status``, the parameters, the summary metrics.
        time_series: those runs' time series, with ``run`` and the parameters first.
        parameters: the parameter columns (the overrides of the sweep's runs).
        not_ok: how many runs were left out because they failed or are incomplete.
    """

    runs: pd.DataFrame
    time_series: pd.DataFrame
    parameters: tuple[str, ...]
    not_ok: int = 0

    @classmethod
    def from_tables(
        cls,
        runs: pd.DataFrame,
        time_series: pd.DataFrame,
        parameters: Sequence[str] | None = None,
    ) -> Sweep:
        """From the two tables of :func:`sim.io.collect.collect`; ``parameters`` defaults to
        the list the runs table carries in ``attrs`` (kept in its Parquet file)."""
        if parameters is None:
            parameters = runs.attrs.get(PARAMETERS_ATTR)
        if parameters is None:
            raise AnalysisError(
                f"the runs table does not list its parameter columns (attrs[{PARAMETERS_ATTR!r}]"
                "); collect the sweep again with peersim-collect"
            )
        ok = runs["status"] == "ok"
        return cls(
            runs=runs[ok].reset_index(drop=True),
            time_series=time_series,
            parameters=tuple(parameters),
            not_ok=int((~ok).sum()),
        )

    @classmethod
    def from_collected(cls, collected: Collected) -> Sweep:
        """From :func:`sim.io.collect.collect`'s result."""
        return cls.from_tables(collected.runs, collected.time_series, collected.parameters)

    @property
    def metrics(self) -> list[str]:
        """The summary metrics: the runs table's numeric (or boolean) non-parameter columns."""
        return _numeric(self.runs, self.parameters)

    @property
    def series(self) -> list[str]:
        """The time-series metrics: the time-series table's numeric non-parameter columns."""
        return _numeric(self.time_series, self.parameters)

    @property
    def varied(self) -> list[str]:
        """Parameters that take more than one value over the ok runs (unset counts as a
        value), other than :data:`REPLICATE_KEYS`: the keys of the sweep's settings."""
        return [
            name
            for name in self.parameters
            if name not in REPLICATE_KEYS and self.runs[name].nunique(dropna=False) > 1
        ]

    def keys(self, by: Sequence[str] | None = None) -> list[str]:
        """The parameters a table is split by: ``by`` (checked) or else :attr:`varied`."""
        if by is None:
            return self.varied
        for name in by:
            if name not in self.parameters:
                shown = ", ".join(self.parameters) or "none"
                raise AnalysisError(
                    f"no parameter {name!r} in this sweep{_close(name, self.parameters)}; "
                    f"parameters: {shown}"
                )
        return list(dict.fromkeys(by))

    def select(self, values: Mapping[str, object]) -> Sweep:
        """The runs whose parameters equal ``values`` (a mapping of parameter to value), and
        their time series.

        Raises:
            AnalysisError: an unknown parameter, or no run matches.
        """
        self.keys(list(values))
        keep = np.ones(len(self.runs), bool)
        for name, value in values.items():
            keep &= (self.runs[name] == value).to_numpy()
        if not keep.any():
            raise AnalysisError(f"no run has {setting_label(list(values), list(values.values()))}")
        runs = self.runs[keep].reset_index(drop=True)
        runs.attrs = dict(self.runs.attrs)
        series = self.time_series[self.time_series["run"].isin(runs["run"])]
        return Sweep(runs, series.reset_index(drop=True), self.parameters, self.not_ok)

    def check_metrics(self, names: Sequence[str] | None, *, series: bool = False) -> list[str]:
        """``names`` checked against the summary metrics (or the time-series metrics); all of
        them when None."""
        known = self.series if series else self.metrics
        if names is None:
            return known
        table = TIME_SERIES_TABLE if series else RUNS_TABLE
        for name in names:
            if name in self.parameters:
                raise AnalysisError(f"{name!r} is a parameter of this sweep, not a metric")
            if name not in known:
                raise AnalysisError(
                    f"no metric {name!r} in {table}{_close(name, known)}; {len(known)} numeric "
                    f"metrics: {', '.join(known[:4])}{', ...' if len(known) > 4 else ''}"
                )
        return list(dict.fromkeys(names))


def read_sweep(folder: str | Path) -> Sweep:
    """The sweep whose tables ``peersim-collect`` wrote into ``folder``."""
    folder = Path(folder)
    try:
        runs = pd.read_parquet(folder / RUNS_TABLE, engine="pyarrow")
        time_series = pd.read_parquet(folder / TIME_SERIES_TABLE, engine="pyarrow")
    except FileNotFoundError as error:
        raise AnalysisError(f"{error.filename}: not found (run peersim-collect first)") from None
    return Sweep.from_tables(runs, time_series)


def split(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[tuple, np.ndarray]]:
    """``frame``'s rows by their values of ``keys``: each group's tuple of values and its row
    positions, groups sorted (unset values form a group of their own); one group of all rows
    without keys. Positions, not frames, since slicing a frame per group would dominate a
    table of bands over thousands of steps."""
    if not keys:
        return [((), np.arange(len(frame)))]
    grouped = frame.groupby(list(keys), dropna=False, sort=True)
    codes = grouped.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    positions = np.split(order, np.cumsum(np.bincount(codes, minlength=grouped.ngroups))[:-1])
    values = [v if isinstance(v, tuple) else (v,) for v in grouped.size().index]
    return list(zip(values, positions, strict=True))


def _numeric(table: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    skip = set(parameters) | set(_BOOKKEEPING)
    return [
        name
        for name in table.columns
        if name not in skip
        and (pd.api.types.is_numeric_dtype(table[name]) or pd.api.types.is_bool_dtype(table[name]))
    ]


def _close(name: str, known: Sequence[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]}?)" if match else ""
