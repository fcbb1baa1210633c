"""The network of a large fleet, one node per group of slots (community or lab).

Above :data:`AGGREGATE_ABOVE` models a drawing of every model is a hairball, and so is each
frame of its animation. Here each group (a lab of a ``labs`` graph, else a Louvain community,
as ``models.parquet`` records it) is one node: its area by its models, its fill by the
share of them protective (a colour map from the network view's two colours), their mean
propensity, or their most common family; a purple ring marks a group holding shadow copies, a
black x one with a model decommissioned since the previous snapshot. An edge joins two
groups with trust between them: wider for more edges, darker for more mean trust.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.viz.layout import stable_layout
from sim.viz.network import (
    COLOR_BY,
    FAMILY_COLORS,
    NOT_PROTECTIVE,
    PROPENSITY_MAP,
    PROTECTIVE,
    SHADOW,
    colour_bar,
    legend_beside,
)

__all__ = ["AGGREGATE_ABOVE", "AggregateView"]

#: Fleets above this many models are drawn by group.
AGGREGATE_ABOVE = 2000
#: Up to this many groups, discs are drawn at full size.
ROOMY = 12


class AggregateView:
    """The artists of a drawing by group on ``ax`` (``nodes``: one point per group, in the
    order of the sorted group labels); :meth:`update` recolours them per snapshot.

    Args:
        groups: the group of each slot.
        src, dst: the directed edges, as the trust snapshots list them at every step.
        color: one of :data:`~sim.viz.network.COLOR_BY`.
        families: every family the run deploys.
        span: the mean propensities at the ends of the colour map.
        seed: of the groups' layout.
    """

    def __init__(
        self,
        ax,
        groups,
        src,
        dst,
        *,
        color: str = "protective",
        families=(),
        span: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
    ):
        from matplotlib.collections import LineCollection

        if color not in COLOR_BY:
            raise ValueError(f"color: must be one of {', '.join(COLOR_BY)}, got {color!r}")
        self.ax, self.color, self.families = ax, color, list(families)
        self.span = span if color == "propensity" else (0.0, 1.0)
        self.labels, self._group = np.unique(np.asarray(groups), return_inverse=True)
        self.sizes = np.bincount(self._group)
        a, b = self._group[np.asarray(src)], self._group[np.asarray(dst)]
        k = self.labels.size
        pairs, pair = np.unique(np.minimum(a, b) * k + np.maximum(a, b), return_inverse=True)
        self._across = a != b  # edges inside a group are not drawn
        crossing = np.unique(pair[self._across])
        self._pair = np.full(pair.size, -1)
        self._pair[self._across] = np.searchsorted(crossing, pair[self._across])
        ends = np.stack([pairs[crossing] // k, pairs[crossing] % k], axis=1)
        self.centres = stable_layout(k, ends[:, 0], ends[:, 1], seed=seed)
        count = np.bincount(self._pair[self._across], minlength=crossing.size)
        self._count = np.maximum(count, 1)
        fade = min(0.7, 0.7 * np.sqrt(3 * ROOMY / max(len(ends), 1)))
        width = 0.4 + 2.5 * np.log1p(count) / np.log1p(count.max(initial=1))
        self.edges = LineCollection(
            self.centres[ends], cmap="Greys", alpha=fade, zorder=1, linewidths=width
        )
        self.edges.set_clim(-0.5, 1.4)
        ax.add_collection(self.edges)
        # More groups, smaller discs and fainter links: the picture stays legible.
        area = 20 + 600 * min(1.0, ROOMY / k) * self.sizes / self.sizes.max()
        self.nodes = ax.scatter(
            *self.centres.T, s=area, edgecolors="black", linewidths=0.6, zorder=3
        )
        self.crosses = ax.scatter([], [], marker="x", s=30, c="black", linewidths=1.0, zorder=4)
        self.rings = ax.scatter(
            [], [], s=[], facecolors="none", edgecolors=SHADOW, linewidths=1.3, zorder=2
        )
        self._area = area
        for axis in (ax.set_xlim, ax.set_ylim):
            axis(-1.15, 1.15)
        ax.set_aspect("equal")
        ax.set_axis_off()
        #: The artists a new snapshot changes, drawn in this order.
        self.moving = [self.edges, self.rings, self.nodes, self.crosses]
        self._legend()

    def update(self, state: pd.DataFrame, edges: pd.DataFrame) -> None:
        """Show one snapshot (``state``: models rows of one step; ``edges``: its trust rows)."""
        trust = edges["trust"].to_numpy(float)[self._across]
        self.edges.set_array(np.bincount(self._pair[self._across], weights=trust) / self._count)
        status = state["status"].to_numpy()
        active = state[status == "active"].sort_values("slot")
        group = self._group[active["slot"].to_numpy()]
        self.nodes.set_facecolor(self.facecolors(active, group))
        for artist, which in ((self.crosses, "decommissioned"), (self.rings, "shadow")):
            marked = np.unique(self._group[state["slot"].to_numpy()[status == which]])
            artist.set_offsets(self.centres[marked].reshape(-1, 2))
            if artist is self.rings:
                artist.set_sizes(self._area[marked] * 2.2)

    def facecolors(self, active: pd.DataFrame, group: np.ndarray) -> np.ndarray:
        """RGBA fill of each group from its active models (``group``: each one's group)."""
        from matplotlib import colormaps

        if self.color == "family":
            family = pd.Index(self.families).get_indexer(active["family"])
            counts = np.zeros((self.labels.size, max(len(self.families), 1)), np.int64)
            np.add.at(counts, (group, family), 1)
            return colormaps[FAMILY_COLORS](counts.argmax(axis=1) % 10)
        column = "protective" if self.color == "protective" else "propensity"
        mean = np.bincount(group, weights=active[column].to_numpy(float)) / self.sizes
        low, high = self.span
        return self._colormap()(np.clip((mean - low) / max(high - low, 1e-9), 0, 1))

    def _colormap(self):
        from matplotlib import colormaps
        from matplotlib.colors import LinearSegmentedColormap

        if self.color == "propensity":
            return colormaps[PROPENSITY_MAP]
        return LinearSegmentedColormap.from_list("share", [NOT_PROTECTIVE, "#f7f7f7", PROTECTIVE])

    def _legend(self) -> None:
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.lines import Line2D

        handles = []
        if self.color == "family":
            cmap = colormaps[FAMILY_COLORS]
            handles += [
                Line2D([], [], ls="", marker="o", color=cmap(i % 10), label=f)
                for i, f in enumerate(self.families)
            ]
        else:
            label = "protective share" if self.color == "protective" else "mean propensity"
            colour_bar(self.ax, ScalarMappable(Normalize(*self.span), self._colormap()), label)
        handles += [
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="lightgrey",
                markeredgecolor="black",
                markersize=9,
                label=f"group (area: models, {self.sizes.max()} max)",
            ),
            Line2D(
                [], [], ls="", marker="x", color="black", label="decommissions since last snapshot"
            ),
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                markerfacecolor="none",
                markeredgecolor=SHADOW,
                markersize=11,
                label="holds shadow copies",
            ),
            Line2D([], [], color="grey", lw=1.5, label="trust between groups (darker: more)"),
        ]
        legend_beside(self.ax, handles)
