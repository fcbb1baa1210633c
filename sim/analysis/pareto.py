"""The Pareto front of designs over two metrics to be minimised (e.g. operator cost and loss
of control): the designs no other design beats on both, from a table of
:func:`sim.analysis.summary_table`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.analysis.sweep import AnalysisError

__all__ = ["pareto_front"]


def pareto_front(table: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per setting of ``table`` (a summary table: the keys, ``metric``, ``mean``, ...), the
    means of metrics ``x`` and ``y`` and ``dominated``: whether another setting has a mean at
    most as large on both and smaller on one (both metrics are minimised). Rows are sorted
    by ``x`` then ``y``; a setting whose mean of either is NaN is never on the front.

    Raises:
        AnalysisError: ``x`` or ``y`` is not a metric of the table, or the table has no
            keys (a single setting).
    """
    keys = list(table.columns[: list(table.columns).index("metric")])
    for name in (x, y):
        if not (table["metric"] == name).any():
            known = ", ".join(dict.fromkeys(table["metric"]))
            raise AnalysisError(f"no metric {name!r} in the table; metrics: {known}")
    if not keys:
        raise AnalysisError("the table has a single setting: there is no front to find")
    rows = table[table["metric"].isin([x, y])]
    wide = rows.pivot_table(index=keys, columns="metric", values="mean", dropna=False,
                            aggfunc="first")[[x, y]].reset_index()  # fmt: skip
    wide.columns.name = None
    points = wide[[x, y]].to_numpy(dtype="float64")
    wide["dominated"] = [_dominated(point, points) for point in points]
    return wide.sort_values([x, y], kind="stable").reset_index(drop=True)


def _dominated(point: np.ndarray, points: np.ndarray) -> bool:
    """Whether some row of ``points`` is <= ``point`` in both and < in one (NaN: dominated)."""
    if np.isnan(point).any():
        return True
    finite = points[~np.isnan(points).any(axis=1)]
    return bool(np.any(np.all(finite <= point, axis=1) & np.any(finite < point, axis=1)))
