"""The figure of a sensitivity analysis: each metric's factors ranked by their index."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.viz.figures import figure

__all__ = ["plot_indices"]


def plot_indices(tables: dict[str, pd.DataFrame], method: str, path: Path) -> None:
    """One panel per metric: Morris ``mu_star`` (with its 95% interval) and ``sigma``, or
    Sobol ``ST`` and ``S1`` (with their intervals), per factor, most influential on top;
    saved as PNG."""
    bars = ("mu_star", "sigma") if method == "morris" else ("ST", "S1")
    height = 0.45 * max(len(t) for t in tables.values()) + 1.5
    fig = figure(figsize=(5.5 * len(tables), height))
    axes = fig.subplots(1, len(tables), squeeze=False)
    for ax, (metric, table) in zip(axes[0], tables.items(), strict=True):
        shown = table.iloc[::-1]  # most influential at the top
        y = range(len(shown))
        for offset, column in zip((0.2, -0.2), bars, strict=True):
            conf = shown.get(f"{column}_conf")
            ax.barh([v + offset for v in y], shown[column], height=0.4, label=column,
                    xerr=None if conf is None else conf, capsize=2)  # fmt: skip
        ax.set_yticks(list(y), shown["factor"])
        ax.set_title(metric)
        ax.legend(loc="lower right")
    fig.suptitle(f"{method} sensitivity (95% bootstrap intervals)")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
