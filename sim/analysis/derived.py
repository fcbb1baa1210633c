"""Per-run metrics derived from a sweep's time series: a series' value at the first and the
last step of each run and its change, added to the runs table so that
:func:`sim.analysis.summary_table` and :func:`sim.analysis.paired_differences` treat them
like any summary metric (e.g. the growth of the fleet's mean propensity)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from sim.analysis.sweep import AnalysisError, Sweep

__all__ = ["ENDPOINTS", "endpoint_name", "with_endpoints"]

#: What is derived from each series: its value at the first step, at the last, and last - first.
ENDPOINTS = ("start", "end", "change")


def endpoint_name(metric: str, endpoint: str) -> str:
    """The runs-table column of ``metric``'s ``endpoint`` (one of :data:`ENDPOINTS`), e.g.
    ``mean_propensity.end``."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
    return f"{metric}.{endpoint}"


def with_endpoints(sweep: Sweep, metrics: Sequence[str]) -> Sweep:
    """``sweep`` with, per time-series metric in ``metrics``, three more summary metrics per
    run: its value at the run's first step (``<metric>.start``), at its last step
    (``<metric>.end``) and the difference (``<metric>.change``).

    Raises:
        AnalysisError: a metric that is not in the time series, a derived name the runs table
            already has, or an ok run without a time series.
    """
    metrics = sweep.check_metrics(metrics, series=True)
    clash = [endpoint_name(m, e) for m in metrics for e in ENDPOINTS
             if endpoint_name(m, e) in sweep.runs.columns]  # fmt: skip
    if clash:
        raise AnalysisError(f"the runs table already has a column {clash[0]!r}")
    ordered = sweep.time_series.sort_values(["run", "step"], kind="stable")
    grouped = ordered.groupby("run", sort=False)[list(metrics)]
    first, last = grouped.first(), grouped.last()
    missing = sorted(set(sweep.runs["run"]) - set(first.index))
    if missing:
        raise AnalysisError(f"run {missing[0]!r} has no time series ({len(missing)} such runs)")
    derived = {}
    for metric in metrics:
        start = sweep.runs["run"].map(first[metric]).astype("float64")
        end = sweep.runs["run"].map(last[metric]).astype("float64")
        derived[endpoint_name(metric, "start")] = start
        derived[endpoint_name(metric, "end")] = end
        derived[endpoint_name(metric, "change")] = end - start
    runs = pd.concat([sweep.runs, pd.DataFrame(derived, index=sweep.runs.index)], axis=1)
    runs.attrs = dict(sweep.runs.attrs)
    return dataclasses.replace(sweep, runs=runs)
