"""A run's spread as one figure: the network of a snapshot above the run's timeline.

:class:`SpreadFigure` lays the network out once and makes every artist once; :meth:`show`
moves it to another snapshot step by changing colours, marker positions and the cursor
only. A run's ``network.png`` is its last frame (:func:`plot_final`); an animation is every
frame (:mod:`sim.viz.animation`).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from sim.viz.aggregate import AGGREGATE_ABOVE, AggregateView
from sim.viz.blit import Blitter
from sim.viz.figures import figure
from sim.viz.layout import GROUPED_ABOVE, communities, stable_layout
from sim.viz.network import (
    FAMILY_COLORS,
    NOT_PROTECTIVE,
    PROTECTIVE,
    SHADOW,
    NetworkView,
    caption,
    propensity_span,
)
from sim.viz.timeline import COLOURS as TIMELINE_COLOURS
from sim.viz.timeline import Timeline

__all__ = ["SpreadFigure", "drawing_groups", "plot_final"]


def drawing_groups(community: np.ndarray, *, labs: bool) -> np.ndarray | None:
    """The groups a drawing lays out (and, above
    :data:`~sim.viz.aggregate.AGGREGATE_ABOVE` models, draws) from each slot's community as
    a run found it (``models.parquet``; the lab in a ``labs`` graph): the labs, or the
    communities of a fleet above :data:`~sim.viz.layout.GROUPED_ABOVE` models (found once
    by the run, not again by the drawing); None for a smaller fleet (one spring layout)."""
    return community if labs or len(community) > GROUPED_ABOVE else None


class SpreadFigure:
    """The network (every model, or by group above
    :data:`~sim.viz.aggregate.AGGREGATE_ABOVE` models) above the timeline strip.

    Args:
        models, trust: snapshots (the tables of :mod:`sim.model.snapshots`, in step order).
        series: the run's time series (for the timeline).
        color: ``protective``, ``propensity`` or ``family``.
        groups: a group per slot: the lab of a ``labs`` graph (laid out lab by lab, and the
            groups of a large fleet's drawing); None: Louvain communities where needed.
        seed: of the layout.
        size: figure size in inches; ``dpi``: pixels per inch of the frames.
    """

    def __init__(
        self,
        models: pd.DataFrame,
        trust: pd.DataFrame,
        series: pd.DataFrame,
        *,
        color: str = "protective",
        groups=None,
        seed: int = 0,
        size: tuple[float, float] = (8.0, 6.4),
        dpi: int = 100,
    ):
        self.models, self.trust = models, trust
        self._rows = models.groupby("step", sort=True).indices
        self._edges = trust.groupby("step", sort=True).indices
        self.steps = [int(s) for s in self._rows]
        if not self.steps:
            raise ValueError("models: no snapshot to draw (record with snapshots_every >= 1)")
        first = self.steps[0]
        src = trust["src"].to_numpy()[self._edges[first]]
        dst = trust["dst"].to_numpy()[self._edges[first]]
        n = int((models["status"].to_numpy()[self._rows[first]] == "active").sum())
        families = sorted(models["family"].unique())
        span = propensity_span(models)
        self.fig = figure(figsize=size, dpi=dpi)
        grid = self.fig.add_gridspec(
            2, 1, height_ratios=(5, 1), hspace=0.12, left=0.07, right=0.7, top=0.94, bottom=0.08
        )
        network, strip = self.fig.add_subplot(grid[0]), self.fig.add_subplot(grid[1])
        if n > AGGREGATE_ABOVE:
            groups = communities(n, src, dst, seed=seed) if groups is None else groups
            self.view = AggregateView(
                network, groups, src, dst, color=color, families=families, span=span, seed=seed
            )
        else:
            layout = stable_layout(n, src, dst, seed=seed, groups=groups)
            self.view = NetworkView(
                network, layout, src, dst, color=color, families=families, span=span
            )
        self.timeline = Timeline(strip, series)
        self.title = network.set_title("", fontsize="medium", loc="left")
        self._blitter = None  # made at the first frame

    def key_colours(self) -> np.ndarray:
        """RGB (0-255) of every colour a frame must show exactly: states, families,
        markers and the timeline's (a GIF's palette keeps them, however small their area)."""
        from matplotlib import colormaps
        from matplotlib.colors import to_rgba_array

        named = [PROTECTIVE, NOT_PROTECTIVE, SHADOW, "white", "lightgrey", *TIMELINE_COLOURS]
        family = colormaps[FAMILY_COLORS](np.arange(10))
        rgba = np.concatenate([to_rgba_array(named), family])
        return np.round(rgba[:, :3] * 255).astype(np.uint8)

    def show(self, step: int) -> None:
        """Move every artist to the snapshot of ``step``."""
        state = self.models.iloc[self._rows[step]]
        self.view.update(state, self.trust.iloc[self._edges[step]])
        self.timeline.show(step)
        self.title.set_text(caption(state, step))

    def frame(self) -> np.ndarray:
        """The current frame as RGB pixels (height, width, 3).

        The first call draws everything but the artists that change (legends, colour bar,
        timeline bars, axes) and keeps those pixels; each call then restores them and draws
        only the changing artists on top (:class:`~sim.viz.blit.Blitter`): a frame costs a
        third of a full draw.
        """
        if self._blitter is None:
            moving = [*self.view.moving, self.timeline.cursor, self.title]
            self._blitter = Blitter(self.fig, moving)
        return self._blitter.frame()


def plot_final(
    models: pd.DataFrame,
    trust: pd.DataFrame,
    series: pd.DataFrame,
    path: Path | BinaryIO,
    *,
    groups=None,
    seed: int = 0,
) -> None:
    """The last snapshot in ``models`` and ``trust`` as :class:`SpreadFigure` draws it,
    coloured by protective state, saved as PNG (a run's ``network.png``)."""
    drawn = SpreadFigure(models, trust, series, groups=groups, seed=seed)
    drawn.show(drawn.steps[-1])
    drawn.fig.savefig(path, format="png", dpi=110)
