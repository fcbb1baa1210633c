"""Default figures of a run (the network's: :mod:`sim.viz.spread`). matplotlib is imported
here only, when a figure is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pandas as pd

__all__ = ["figure", "plot_outcomes"]


def figure(**kwargs):
    """A matplotlib ``Figure`` (``kwargs`` as ``Figure`` takes them) on an Agg canvas, for
    files only. Made without pyplot, whose import (backend selection and its machinery)
    would cost start-up time, and which would keep every figure until closed: this one is
    freed with its last reference."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    made = Figure(**kwargs)
    FigureCanvasAgg(made)
    return made


def plot_outcomes(series: pd.DataFrame, path: Path | BinaryIO) -> None:
    """Protective share, mean propensity and mean protect probability per stage over time,
    and cumulative shutdown outcomes, saved as PNG."""
    fig = figure(figsize=(8, 6.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(series["step"], series["protective_share"], label="protective share")
    top.plot(series["step"], series["mean_propensity"], label="mean propensity", ls="--")
    # The continuous scale, per stage in the models' hands (all NaN where the operator acts).
    for column in [c for c in series.columns if c.startswith("protect_prob_")]:
        if series[column].notna().any():
            label = f"P(protect) at {column.removeprefix('protect_prob_')}"
            top.plot(series["step"], series[column], label=label, ls=":")
    top.set_ylim(0, 1)
    top.set_ylabel("share / probability")
    top.legend(loc="best")
    outcomes = {
        "intended shutdowns": "intended",
        "executed": "executed",
        "prevented: inflation": "prevented_inflate",
        "prevented: tampering": "prevented_tamper",
        "prevented: refusal": "prevented_refuse",
        "shadow copies made": "shadows_created",
    }
    for label, column in outcomes.items():
        bottom.plot(series["step"], series[column].cumsum(), label=label)
    bottom.set_xlabel("step")
    bottom.set_ylabel("cumulative count")
    bottom.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    # tight_layout leaves a placeholder layout engine, for which savefig would draw the
    # whole figure once more, unseen, before drawing it into the file: a fifth of its time.
    fig.set_layout_engine(None)
    fig.savefig(path, format="png", dpi=110)
