"""Tables of a sweep: per parameter setting, the mean, sd, n and confidence interval of each
summary metric (:func:`summary_table`), and of each time-series metric at every step, over the
runs (seeds) of that setting (:func:`time_series_bands`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sim.analysis.intervals import LEVEL, RESAMPLES, T_INTERVAL, generator, interval
from sim.analysis.sweep import Sweep, split
from sim.core.text import setting_label

__all__ = ["STATISTICS", "describe", "summary_table", "time_series_bands"]

#: The columns each table gives per setting and metric.
STATISTICS = ["n", "n_nan", "mean", "sd", "ci_low", "ci_high"]


def summary_table(
    sweep: Sweep,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    *,
    method: str = T_INTERVAL,
    level: float = LEVEL,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """Per setting of ``by`` (default: the parameters the sweep varied, other than seed and
    replicate) and per summary metric: ``n`` runs used, ``n_nan`` runs whose value is NaN
    (left out), ``mean``, ``sd`` and the ``level`` interval ``ci_low``..``ci_high``.

    Runs of other settings are pooled when ``by`` leaves a varied parameter out. Rows go
    metric by metric, settings sorted within each. The interval is the t interval on the mean
    (``method="t"``) or the percentile bootstrap (``"bootstrap"``, ``resamples`` resamples,
    each cell with its own Generator from ``seed`` and the cell's labels). ``attrs`` holds
    ``method``, ``level`` and ``seed``.

    Raises:
        AnalysisError: an unknown metric or parameter.
    """
    keys = sweep.keys(by)
    metrics = sweep.check_metrics(metrics)
    return describe(sweep.runs, keys, metrics, method=method, level=level, seed=seed,
                    resamples=resamples)  # fmt: skip


def time_series_bands(
    sweep: Sweep,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    *,
    method: str = T_INTERVAL,
    level: float = LEVEL,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """As :func:`summary_table`, for time-series metrics at each ``step``: the band over the
    runs (seeds) of each setting. Columns: the keys, ``step``, ``metric`` and the statistics.

    Raises:
        AnalysisError: an unknown metric or parameter.
    """
    keys = sweep.keys(by)
    metrics = sweep.check_metrics(metrics, series=True)
    return describe(sweep.time_series, [*keys, "step"], metrics, method=method, level=level,
                    seed=seed, resamples=resamples)  # fmt: skip


def describe(
    frame: pd.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str],
    *,
    method: str = T_INTERVAL,
    level: float = LEVEL,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """The statistics of each of ``metrics`` in each group of ``frame`` by ``keys`` (unset
    values form a group of their own); see :func:`summary_table`."""
    keys, metrics = list(keys), list(metrics)
    rows: list[list] = [[] for _ in metrics]  # per metric, so rows go metric by metric
    data = frame[metrics].astype("float64").to_numpy()
    for values, positions in split(frame, keys):
        label = setting_label(keys, values)
        for index, metric in enumerate(metrics):
            rng = None if method == T_INTERVAL else generator(seed, metric, label)
            found = interval(data[positions, index], method=method, level=level, rng=rng,
                             resamples=resamples)  # fmt: skip
            rows[index].append([*values, metric, found.n, found.n_nan, found.mean, found.sd,
                                found.low, found.high])  # fmt: skip
    rows = [row for per_metric in rows for row in per_metric]
    table = pd.DataFrame(rows, columns=[*keys, "metric", *STATISTICS])
    table.attrs.update(method=method, level=level, seed=seed, resamples=resamples)
    return table
