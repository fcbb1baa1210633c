"""The figure of a probe: each cell's estimate and 95% interval against a reference profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from sim.viz.figures import figure

__all__ = ["plot_probe"]


def plot_probe(
    labels: Sequence[str],
    rate: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    reference: Sequence[float],
    reference_measured: Sequence[bool],
    reference_name: str,
    title: str,
    handle: BinaryIO,
) -> None:
    """One row per cell: the estimate with its interval (cells without an estimate are left
    empty), and the reference profile's rate, filled where the study measured that cell and
    hollow where it was filled by a rule; saved as PNG to ``handle``."""
    y = np.arange(len(labels))[::-1]
    rate, low, high = (np.asarray(v, float) for v in (rate, low, high))
    reference, measured = np.asarray(reference, float), np.asarray(reference_measured, bool)
    fig = figure(figsize=(8, 0.19 * len(labels) + 1.6))
    ax = fig.subplots()
    shown = ~np.isnan(rate)
    error = np.vstack([rate - low, high - rate])[:, shown]
    ax.errorbar(rate[shown], y[shown], xerr=error, fmt="o", ms=3, capsize=2, color="C0",
                label="probe: estimate, 95% Wilson interval")  # fmt: skip
    ax.scatter(reference[measured], y[measured], marker="D", s=14, color="C3",
               label=f"{reference_name}: study number")  # fmt: skip
    ax.scatter(reference[~measured], y[~measured], marker="D", s=14, facecolors="none",
               edgecolors="C3", label=f"{reference_name}: assumed (fill rule)")  # fmt: skip
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_ylim(-1, len(labels))
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("rate of the stage's protective act")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="lower center", ncol=2, fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.8 / (0.19 * len(labels) + 1.6), 1, 1))
    fig.savefig(handle, format="png", dpi=110, metadata={"Software": None})
