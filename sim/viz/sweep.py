"""Figures of a sweep, drawn from the tables of :mod:`sim.analysis`: a metric against a
parameter with its confidence band, time series with bands over seeds, and small multiples
by design. matplotlib is imported only when a figure is drawn.

The tables' columns: the setting's keys, then ``metric`` (``step`` among the keys in a table
of bands), ``mean``, ``ci_low`` and ``ci_high``; ``attrs["level"]`` is the interval's level.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from sim.core.text import setting_label
from sim.viz.figures import figure

__all__ = ["plot_metric_vs_parameter", "plot_small_multiples", "plot_time_series", "plot_tradeoff"]

#: More lines than this in one figure get a 20-colour cycle and a legend beside the axes.
MANY_LINES = 6
#: Opacity of a confidence band, light enough for overlapping bands to stay readable.
BAND_ALPHA = 0.25


def plot_metric_vs_parameter(
    table: pd.DataFrame, metric: str, parameter: str, path: Path | BinaryIO
) -> None:
    """``metric``'s mean against ``parameter``, with its interval, one line per setting of
    the table's other keys, saved as PNG: a band over a numeric parameter, error bars over
    categories.

    Raises:
        ValueError: ``metric`` is not in the table, or ``parameter`` is not one of its keys.
    """
    rows = _rows(table, metric)
    keys = _keys(table)
    if parameter not in keys:
        raise ValueError(f"{parameter!r} is not a key of the table ({', '.join(keys)})")
    others = [key for key in keys if key != parameter]
    column = rows[parameter]
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    categories = list(dict.fromkeys(column.sort_values().astype(str)))
    lines = _by(rows, others)
    many = len(lines) > MANY_LINES
    fig = figure(figsize=(11, 4.5) if many else (7, 4.5))
    axis = fig.subplots()
    if many:  # colours of their own beyond the default ten, and the legend beside the axes
        from matplotlib import colormaps

        axis.set_prop_cycle(color=colormaps["tab20"].colors)
    for index, (label, group) in enumerate(lines):
        group = group.sort_values(parameter)
        if numeric:
            _band(axis, group, parameter, label)
        else:  # categories side by side, each line a little offset so bars do not overlap
            where = np.array([categories.index(v) for v in group[parameter].astype(str)])
            offset = (index - (len(lines) - 1) / 2) * 0.08
            low, high = group["mean"] - group["ci_low"], group["ci_high"] - group["mean"]
            axis.errorbar(where + offset, group["mean"], yerr=[low, high], fmt="o", capsize=3,
                          label=label)  # fmt: skip
    if not numeric:
        crowded = sum(len(c) for c in categories) > 60  # labels would run into each other
        axis.set_xticks(range(len(categories)), categories, rotation=35 if crowded else 0,
                        ha="right" if crowded else "center")  # fmt: skip
        axis.set_xlim(-0.5, len(categories) - 0.5)
    axis.set_xlabel(parameter)
    axis.set_ylabel(f"{metric} (mean, {_level(table)} CI)")
    if others and many:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    elif others:
        axis.legend(loc="best", fontsize="small")
    _save(fig, path)


def plot_time_series(bands: pd.DataFrame, metric: str, path: Path | BinaryIO) -> None:
    """``metric`` over steps, one line per setting with its band over seeds, saved as PNG.

    Raises:
        ValueError: ``metric`` is not in the table, or it has no ``step`` column.
    """
    rows = _rows(bands, metric, series=True)
    fig = figure(figsize=(7, 4.5))
    axis = fig.subplots()
    for label, group in _by(rows, _keys(bands)):
        _band(axis, group, "step", label)
    axis.set_xlabel("step")
    axis.set_ylabel(f"{metric} (mean, {_level(bands)} CI)")
    axis.legend(loc="best", fontsize="small")
    _save(fig, path)


def plot_small_multiples(
    bands: pd.DataFrame, metrics: Sequence[str], path: Path | BinaryIO
) -> None:
    """One panel per setting (column) and metric (row): each metric over steps with its band
    over seeds, rows sharing their y axis so that settings compare at a glance; saved as PNG.

    Raises:
        ValueError: a metric is not in the table, or it has no ``step`` column.
    """
    panels = [_by(_rows(bands, metric, series=True), _keys(bands)) for metric in metrics]
    width = len(panels[0]) if panels else 1
    fig = figure(figsize=(3.2 * width, 2.6 * len(metrics)))
    axes = fig.subplots(len(metrics), width, sharex=True, sharey="row", squeeze=False)
    for row, (metric, designs) in enumerate(zip(metrics, panels, strict=True)):
        for col, (label, group) in enumerate(designs):
            axis = axes[row][col]
            _band(axis, group, "step", None)
            if row == 0:
                axis.set_title(label.replace(", ", "\n"), fontsize="small")  # narrow panels
            if col == 0:
                axis.set_ylabel(metric, fontsize="small")
            if row == len(metrics) - 1:
                axis.set_xlabel("step")
    fig.suptitle(f"mean over seeds, {_level(bands)} CI")
    _save(fig, path)


def plot_tradeoff(
    table: pd.DataFrame,
    x: str,
    y: str,
    path: Path | BinaryIO,
    *,
    front: Sequence[str] = (),
    log_x: bool = False,
) -> None:
    """Each setting of a summary table as a point: its mean of ``x`` against its mean of
    ``y``, with both intervals as error bars and its label beside it; the settings named in
    ``front`` (labels as :func:`sim.core.text.setting_label` writes them, e.g. a Pareto
    front) joined by a line in the order of ``x``; ``log_x`` draws ``x`` on a log scale (for
    costs that span orders of magnitude). Saved as PNG.

    Raises:
        ValueError: ``x`` or ``y`` is not in the table, or ``front`` names an unknown setting.
    """
    keys = _keys(table)
    points = {}
    for metric in (x, y):
        for label, group in _by(_rows(table, metric), keys):
            points.setdefault(label, {})[metric] = group.iloc[0]
    unknown = [label for label in front if label not in points]
    if unknown:
        raise ValueError(f"no setting {unknown[0]!r} in the table")
    fig = figure(figsize=(7.5, 5))
    axis = fig.subplots()
    for label, found in points.items():
        if x not in found or y not in found:
            continue
        px, py = found[x], found[y]
        on_front = label in front
        axis.errorbar(px["mean"], py["mean"], xerr=[[px["mean"] - px["ci_low"]],
                      [px["ci_high"] - px["mean"]]], yerr=[[py["mean"] - py["ci_low"]],
                      [py["ci_high"] - py["mean"]]], fmt="o" if on_front else ".", capsize=2,
                      color="C3" if on_front else "C0")  # fmt: skip
        shown = label.split("=", 1)[1] if len(keys) == 1 else label  # one key: its value
        axis.annotate(shown, (px["mean"], py["mean"]), fontsize="x-small",
                      xytext=(4, 4), textcoords="offset points")  # fmt: skip
    if front:
        line = sorted((points[label][x]["mean"], points[label][y]["mean"]) for label in front)
        axis.plot(*zip(*line, strict=True), color="C3", linewidth=1, label="Pareto front")
        axis.legend(loc="best", fontsize="small")
    if log_x:
        axis.set_xscale("log")
    axis.set_xlabel(f"{x} (mean, {_level(table)} CI)")
    axis.set_ylabel(f"{y} (mean, {_level(table)} CI)")
    _save(fig, path)


def _keys(table: pd.DataFrame) -> list[str]:
    """The setting's keys: the columns before ``metric``, but ``step``."""
    columns = list(table.columns)
    return [c for c in columns[: columns.index("metric")] if c != "step"]


def _rows(table: pd.DataFrame, metric: str, *, series: bool = False) -> pd.DataFrame:
    if series and "step" not in table.columns:
        raise ValueError("not a table of bands over steps (no step column)")
    rows = table[table["metric"] == metric]
    if rows.empty:
        shown = ", ".join(dict.fromkeys(table["metric"]))
        raise ValueError(f"no metric {metric!r} in the table ({shown})")
    return rows


def _by(rows: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """``rows`` per setting of ``keys``, labelled as overrides; one unlabelled group without."""
    if not keys:
        return [("all runs", rows)]
    return [
        (setting_label(keys, values if isinstance(values, tuple) else (values,)), group)
        for values, group in rows.groupby(keys, dropna=False, sort=True)
    ]


def _band(axis, rows: pd.DataFrame, x: str, label: str | None) -> None:
    """The mean of ``rows`` against their column ``x``, with the interval as a band."""
    # Undefined means (steps without a decommission round, say) are skipped, not drawn as gaps
    # that would leave isolated points invisible.
    rows = rows[rows["mean"].notna()].sort_values(x)
    x = rows[x].to_numpy(float)
    (line,) = axis.plot(x, rows["mean"], marker="." if len(x) < 30 else None, label=label)
    axis.fill_between(x, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float),
                      color=line.get_color(), alpha=BAND_ALPHA, linewidth=0)  # fmt: skip


def _level(table: pd.DataFrame) -> str:
    return f"{table.attrs.get('level', 0.95):.0%}"


def _save(fig, path: Path | BinaryIO) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
