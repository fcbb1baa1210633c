"""The strip under the network: what the operator did and what it missed, step by step,
read from a run's time series, with a cursor at the frame's step."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COLOURS", "CURSOR", "PREVENTED", "Timeline", "timeline_counts"]

#: The time series' counts of intended shutdowns that were not carried out, by cause.
PREVENTED = ("prevented_inflate", "prevented_tamper", "prevented_refuse")
CURSOR = "#1b9e77"  # green: apart from the network's colours
#: Every colour the strip uses.
COLOURS = (CURSOR, "#d7301f", "black", "0.85")


def timeline_counts(series: pd.DataFrame) -> pd.DataFrame:
    """Per step: ``round`` (a decommission round ran: some model was up for review),
    ``prevented`` (intended shutdowns not carried out) and ``detections`` (audits that
    caught a behaviour)."""
    return pd.DataFrame(
        {
            "step": series["step"].to_numpy(),
            "round": (series["reviews"] + series["unreviewed"]).to_numpy() > 0,
            "prevented": series[list(PREVENTED)].sum(axis=1).to_numpy(),
            "detections": series["detections"].to_numpy(),
        }
    )


class Timeline:
    """The strip on ``ax``: rounds as light ticks, shutdowns prevented and detections as
    bars per step, and a cursor (:meth:`show` moves it; nothing else is redrawn)."""

    def __init__(self, ax, series: pd.DataFrame):
        counts = timeline_counts(series)
        steps = counts["step"].to_numpy()
        rounds = steps[counts["round"].to_numpy()]
        top = max(float(counts[["prevented", "detections"]].to_numpy().max(initial=0)), 1.0)
        ax.vlines(
            rounds, 0, top, colors="0.85", linewidths=0.8, label="decommission round", zorder=1
        )
        width = 0.45 if len(steps) < 120 else 0.9
        for shift, column, colour, label in (
            (-width / 4, "prevented", COLOURS[1], "shutdowns prevented"),
            (width / 4, "detections", "black", "detections"),
        ):
            # Only the steps with a count get a bar (plus the first, for the legend's
            # colour): a bar of height 0 shows nothing, and most steps have none, while
            # every bar is a patch matplotlib places and draws, half the figure's time.
            height = counts[column].to_numpy()
            drawn = height != 0
            drawn[:1] = True
            ax.bar(steps[drawn] + shift, height[drawn], width=width / 2, color=colour,
                   label=label, zorder=2)  # fmt: skip
        self.cursor = ax.axvline(steps[0] if len(steps) else 0, color=CURSOR, lw=1.5, zorder=3)
        ax.set_xlim(steps.min(initial=0) - 0.5, steps.max(initial=0) + 0.5)
        ax.set_ylim(0, top * 1.05)
        ax.set_xlabel("step")
        ax.set_ylabel("per step", fontsize="small")
        ax.tick_params(labelsize="small")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.05), fontsize="small", frameon=False)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self.steps = steps

    def show(self, step: int) -> None:
        """Put the cursor at ``step``."""
        self.cursor.set_xdata(np.array([step, step]))
