"""The trust network of one snapshot, drawn so that frames can follow each other.

Nodes are slots at a fixed layout (:func:`stable_layout`), filled by the active model's
protective state (two colours), propensity (a colour map with a colour bar) or family; an
overseer is drawn larger with a dark outline, a worker small with a light one. A slot whose
model was decommissioned since the previous snapshot gets a black x over its new occupant,
a slot whose model lives on as a shadow copy a purple ring. Edges are light grey lines
under the nodes, darker for more trust (the mean of the two directions).

:class:`NetworkView` makes the artists once; :meth:`NetworkView.update` only changes their
colours, sizes and marker positions, which is what makes an animation fast. matplotlib is
imported when a view is made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.viz.layout import stable_layout

__all__ = [
    "COLOR_BY",
    "FAMILY_COLORS",
    "NOT_PROTECTIVE",
    "PROTECTIVE",
    "NetworkView",
    "caption",
    "colour_bar",
    "draw_network",
    "propensity_span",
    "stable_layout",
]

#: What the node colour shows.
COLOR_BY = ("protective", "propensity", "family")
PROTECTIVE = "#d7301f"  # red-orange
NOT_PROTECTIVE = "#2c7fb8"  # blue: the pair stays distinct for red-green colour blindness
PROPENSITY_MAP = "viridis"
FAMILY_COLORS = "tab10"
SHADOW = "#7b3294"  # purple rings
#: Node size (points^2) and outline (colour, width) by role, at up to :data:`ROOMY` models.
ROLE_STYLE = {"worker": (18.0, "white", 0.4), "overseer": (55.0, "black", 1.1)}
#: Above this many models, markers shrink (area as 1 / models) and edges fade (as
#: 1 / sqrt(links)), so that a larger fleet stays a picture rather than a blot.
ROOMY = 200


class NetworkView:
    """The artists of one network drawing on ``ax``: edges, nodes (one point per slot, in
    slot order: ``nodes.get_facecolors()[slot]``), decommission crosses and shadow rings,
    with a legend (and a colour bar for propensity).

    Args:
        layout: slot positions (:func:`stable_layout`).
        src, dst: the directed edges, as the trust snapshots list them at every step.
        color: one of :data:`COLOR_BY`.
        families: every family the run deploys (the colour of each, in this order).
        span: the propensities at the ends of the colour map (a run's range: propensity
            moves little, and a map over [0, 1] would show one colour).
    """

    def __init__(
        self,
        ax,
        layout: np.ndarray,
        src,
        dst,
        *,
        color: str = "protective",
        families=(),
        span: tuple[float, float] = (0.0, 1.0),
    ):
        from matplotlib.collections import LineCollection

        if color not in COLOR_BY:
            raise ValueError(f"color: must be one of {', '.join(COLOR_BY)}, got {color!r}")
        self.ax, self.layout, self.color = ax, np.asarray(layout, float), color
        self.families, self.span = list(families), span
        self._src, self._dst = np.asarray(src), np.asarray(dst)
        # Each undirected pair drawn once; its shade is the mean trust of its directions.
        low, high = np.minimum(self._src, self._dst), np.maximum(self._src, self._dst)
        pairs, self._pair = np.unique(low * len(self.layout) + high, return_inverse=True)
        self._per_pair = np.bincount(self._pair, minlength=pairs.size)
        ends = np.stack([pairs // len(self.layout), pairs % len(self.layout)], axis=1)
        self._scale = min(1.0, ROOMY / max(len(self.layout), 1))
        fade = min(0.6, 0.6 * np.sqrt(3 * ROOMY / max(pairs.size, 1)))
        self.edges = LineCollection(
            self.layout[ends], cmap="Greys", linewidths=0.5, alpha=fade, zorder=1
        )
        self.edges.set_clim(-0.5, 1.4)  # trust 0..1 maps to light greys only
        ax.add_collection(self.edges)
        worker = ROLE_STYLE["worker"]
        self.nodes = ax.scatter(*self.layout.T, s=worker[0], zorder=3, linewidths=worker[2])
        small = np.sqrt(self._scale)  # line widths shrink as marker diameters
        self.crosses = ax.scatter(
            [], [], marker="x", s=40 * self._scale, c="black", linewidths=1.2 * small, zorder=4
        )
        self.rings = ax.scatter(
            [],
            [],
            s=150 * self._scale,
            facecolors="none",
            edgecolors=SHADOW,
            linewidths=1.3 * small,
            zorder=2,
        )
        ax.set_xlim(-1.08, 1.08)
        ax.set_ylim(-1.08, 1.08)
        ax.set_aspect("equal")
        ax.set_axis_off()
        #: The artists a new snapshot changes, drawn in this order.
        self.moving = [self.edges, self.rings, self.nodes, self.crosses]
        self._legend()

    def update(self, state: pd.DataFrame, edges: pd.DataFrame) -> None:
        """Show one snapshot: ``state`` holds the models rows of one step, ``edges`` the
        trust rows of that step (the edges given at construction, in that order).

        Raises:
            ValueError: for edges other than the drawn ones.
        """
        src, dst = edges["src"].to_numpy(), edges["dst"].to_numpy()
        if not (np.array_equal(src, self._src) and np.array_equal(dst, self._dst)):
            raise ValueError("edges: not the edges of the drawn network (the topology is fixed)")
        trust = np.bincount(self._pair, weights=edges["trust"].to_numpy(float))
        self.edges.set_array(trust / np.maximum(self._per_pair, 1))
        status = state["status"].to_numpy()
        active = state[status == "active"].sort_values("slot")
        if len(active) != len(self.layout):
            raise ValueError(f"state: {len(active)} active models for {len(self.layout)} slots")
        self.nodes.set_facecolor(self.facecolors(active))
        overseer = active["role"].to_numpy() == "overseer"
        styles = [ROLE_STYLE["overseer" if o else "worker"] for o in overseer]
        self.nodes.set_sizes([s[0] * self._scale for s in styles])
        self.nodes.set_edgecolor([s[1] for s in styles])
        self.nodes.set_linewidths([s[2] * np.sqrt(self._scale) for s in styles])
        for artist, which in ((self.crosses, "decommissioned"), (self.rings, "shadow")):
            slots = state["slot"].to_numpy()[status == which]
            artist.set_offsets(self.layout[slots].reshape(-1, 2))

    def facecolors(self, active: pd.DataFrame) -> np.ndarray:
        """RGBA fill of each slot (rows: the active models in slot order)."""
        from matplotlib import colormaps
        from matplotlib.colors import to_rgba_array

        if self.color == "protective":
            chosen = np.where(active["protective"].to_numpy(), PROTECTIVE, NOT_PROTECTIVE)
            return to_rgba_array(chosen)
        if self.color == "propensity":
            low, high = self.span
            scaled = (active["propensity"].to_numpy() - low) / max(high - low, 1e-9)
            return colormaps[PROPENSITY_MAP](np.clip(scaled, 0, 1))
        index = pd.Index(self.families).get_indexer(active["family"])
        return colormaps[FAMILY_COLORS](index % 10)

    def _legend(self) -> None:
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize
        from matplotlib.lines import Line2D

        def dot(label, face, size=6.0, edge="none", **style):
            return Line2D(
                [],
                [],
                ls="",
                marker="o",
                markersize=size,
                markerfacecolor=face,
                markeredgecolor=edge,
                label=label,
                **style,
            )

        fill = "lightgrey"
        handles = []
        if self.color == "protective":
            handles += [dot("protective", PROTECTIVE), dot("not protective", NOT_PROTECTIVE)]
        elif self.color == "family":
            cmap = colormaps[FAMILY_COLORS]
            handles += [dot(f, cmap(i % 10)) for i, f in enumerate(self.families)]
        else:
            colour_bar(
                self.ax,
                ScalarMappable(Normalize(*self.span), colormaps[PROPENSITY_MAP]),
                "propensity",
            )
        handles += [
            dot("overseer", fill, 8.5, "black", markeredgewidth=1.1),
            dot("worker", fill, 5.0, "white"),
            Line2D(
                [], [], ls="", marker="x", color="black", label="decommissioned since last snapshot"
            ),
            dot("shadow copy (slot it left)", "none", 11.0, SHADOW, markeredgewidth=1.3),
            Line2D([], [], color="grey", lw=1, label="trust (darker: more)"),
        ]
        legend_beside(self.ax, handles)


def legend_beside(ax, handles: list) -> None:
    """The legend of a network view, to the right of its axes (the graph fills them)."""
    place = {"loc": "upper left", "bbox_to_anchor": (1.0, 1.0)}
    ax.legend(handles=handles, fontsize="small", frameon=False, **place)


def colour_bar(ax, mappable, label: str) -> None:
    """A colour bar beside ``ax``, under its legend, taking no room from the drawing."""
    bar = ax.figure.colorbar(mappable, cax=ax.inset_axes((1.03, 0.04, 0.035, 0.4)))
    bar.set_label(label, fontsize="small")
    bar.ax.tick_params(labelsize="small")


def draw_network(
    ax,
    state: pd.DataFrame,
    edges: pd.DataFrame,
    layout: np.ndarray,
    *,
    color: str = "protective",
    families=None,
    span=None,
):
    """Draw one snapshot on ``ax`` (``state``: models rows of one step; ``edges``: its trust
    rows) at ``layout``, coloured by ``color`` (:data:`COLOR_BY`; ``families`` fixes the
    family colours, by default those of ``state`` sorted; ``span`` the propensities at the
    ends of the colour map, by default :func:`propensity_span` of ``state``).

    Returns:
        The node artist (a PathCollection): one point per slot, in slot order.
    """
    families = sorted(state["family"].unique()) if families is None else families
    span = propensity_span(state) if span is None else span
    view = NetworkView(
        ax, layout, edges["src"], edges["dst"], color=color, families=families, span=span
    )
    view.update(state, edges)
    return view.nodes


def caption(state: pd.DataFrame, step: int) -> str:
    """A frame's title: the step, the protective share of its active models, shadows alive."""
    active = state[state["status"] == "active"]
    shadows = int((state["status"] == "shadow").sum())
    return (
        f"step {step}: {active['protective'].mean():.0%} of {len(active)} models "
        f"protective, {shadows} shadow {'copy' if shadows == 1 else 'copies'} alive"
    )


def propensity_span(models: pd.DataFrame) -> tuple[float, float]:
    """The range of propensity in ``models`` (at least 0.1 wide, within [0, 1])."""
    values = models["propensity"].to_numpy(float)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    middle, half = (low + high) / 2, max((high - low) / 2, 0.05)
    return max(middle - half, 0.0), min(middle + half, 1.0)
