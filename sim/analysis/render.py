"""A table of :mod:`sim.analysis` as aligned text for a terminal: a header saying how the
intervals were computed, numbers to four significant digits, ``n/a`` for an undefined one
(NaN: no values, or a spread from fewer than two), ``default`` for an unset parameter."""

from __future__ import annotations

import math
from numbers import Integral, Real
from pathlib import Path

import pandas as pd

from sim.analysis.intervals import BOOTSTRAP, RESAMPLES

__all__ = ["header", "save_table", "to_markdown", "to_text"]


def header(table: pd.DataFrame) -> str:
    """One line: the level and method of the table's intervals, and what the counts mean."""
    level, method = table.attrs.get("level", 0.95), table.attrs.get("method", "t")
    if method == BOOTSTRAP:
        resamples, seed = table.attrs.get("resamples", RESAMPLES), table.attrs.get("seed", 0)
        how = f"percentile bootstrap of the mean ({resamples} resamples, seed {seed})"
    else:
        how = "t interval on the mean"
    if "n_pairs" in table.columns:
        counts = ("n_pairs = pairs used, n_nan = pairs with a NaN side (left out), n_unpaired = "
                  "runs without a partner")  # fmt: skip
    else:
        counts = "n = runs used, n_nan = runs whose value is NaN (left out)"
    return f"# {level:.0%} CI: {how}; {counts}"


def to_text(table: pd.DataFrame) -> str:
    """``table`` as aligned columns under :func:`header`: text left-aligned, numbers right."""
    columns = [str(name) for name in table.columns]
    keys = set(columns[: columns.index("metric")]) if "metric" in columns else set()
    cells = [
        [_cell(value, name in keys) for name, value in zip(columns, row, strict=True)]
        for row in table.itertuples(index=False)
    ]
    numeric = [pd.api.types.is_numeric_dtype(table[name]) for name in table.columns]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]  # fmt: skip
        return "  ".join(parts).rstrip()

    return "\n".join([header(table), line(columns), *(line(row) for row in cells)])


def to_markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """``table`` (a summary or paired table) as a Markdown table: one row per setting (and
    baseline), one column per metric, each cell the mean (or mean difference) with its
    interval, ``0.469 [0.452, 0.486]``, to ``digits`` decimals; ``n/a`` where undefined."""
    columns = list(table.columns)
    keys = columns[: columns.index("metric")]
    value = "mean_diff" if "mean_diff" in columns else "mean"
    metrics = list(dict.fromkeys(table["metric"]))
    cells: dict[tuple, dict[str, str]] = {}
    for row in table.to_dict("records"):  # not itertuples: it renames dotted keys
        setting = tuple(_cell(row[key], True) for key in keys)
        numbers = [_fixed(row[name], digits) for name in (value, "ci_low", "ci_high")]
        cells.setdefault(setting, {})[row["metric"]] = f"{numbers[0]} [{numbers[1]}, {numbers[2]}]"
    lines = ["| " + " | ".join([*keys, *metrics]) + " |",
             "|" + "|".join([":--"] * len(keys) + ["--:"] * len(metrics)) + "|"]  # fmt: skip
    for setting, found in cells.items():
        lines.append("| " + " | ".join([*setting, *(found.get(m, "") for m in metrics)]) + " |")
    return "\n".join(lines)


def _fixed(value: object, digits: int) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _cell(value: object, key: bool) -> str:
    """A value as text; a missing one is an unset parameter in a key column (before
    ``metric``), an undefined number elsewhere."""
    if key and pd.isna(value):
        return "default"
    if value is None or value is pd.NA:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Integral):
        return str(value)
    if isinstance(value, Real):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def save_table(table: pd.DataFrame, folder: Path, name: str) -> None:
    """Write ``table`` into ``folder`` as ``<name>.csv`` (every digit) and ``<name>.md`` (its
    :func:`header` line and :func:`to_markdown`)."""
    table.to_csv(folder / f"{name}.csv", index=False)
    (folder / f"{name}.md").write_text(f"{header(table)}\n\n{to_markdown(table)}\n")
