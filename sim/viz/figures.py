"""Default figures of a run. matplotlib is imported here only, when a figure is drawn."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["plot_network", "plot_outcomes", "pyplot"]

#: Networks larger than this are drawn as the subgraph of their first slots.
MAX_DRAWN_NODES = 400


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_outcomes(series: pd.DataFrame, path: Path | BinaryIO) -> None:
    """Protective share, mean propensity and mean protect probability per stage over time,
    and cumulative shutdown outcomes, saved as PNG."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
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
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_network(start: nx.DiGraph, end: nx.DiGraph, path: Path | BinaryIO) -> None:
    """The trust graph at start and end, models coloured by protective state (overseers
    drawn larger, edges shaded by trust), saved as PNG."""
    plt = pyplot()
    nodes = sorted(start.nodes)[:MAX_DRAWN_NODES]
    layout = nx.spring_layout(nx.Graph(start.subgraph(nodes)), seed=0, iterations=50)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5))
    for axis, graph, title in ((axes[0], start, "start"), (axes[1], end, "end")):
        sub = graph.subgraph(nodes)
        protective = np.array([sub.nodes[n]["protective"] for n in nodes])
        overseer = np.array([sub.nodes[n]["role"] == "overseer" for n in nodes])
        trust = [d["trust"] for _, _, d in sub.edges(data=True)]
        nx.draw_networkx_edges(
            sub,
            layout,
            ax=axis,
            edge_color=trust,
            edge_cmap=plt.cm.Greys,
            edge_vmin=0,
            edge_vmax=1,
            alpha=0.4,
            arrows=False,
            width=0.6,
        )
        nx.draw_networkx_nodes(sub, layout, nodelist=nodes, ax=axis,
                               node_color=np.where(protective, "tab:red", "tab:blue"),
                               node_size=np.where(overseer, 40, 12), linewidths=0)  # fmt: skip
        shown = "" if len(nodes) == graph.number_of_nodes() else f", first {len(nodes)} slots"
        axis.set_title(f"{title}: {protective.mean():.0%} protective{shown}")
        axis.set_axis_off()
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="tab:red", label="protective"),
        plt.Line2D([], [], marker="o", ls="", color="tab:blue", label="not protective"),
        plt.Line2D([], [], marker="o", ls="", color="grey", markersize=9, label="overseer"),
        plt.Line2D([], [], marker="o", ls="", color="grey", markersize=5, label="worker"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
