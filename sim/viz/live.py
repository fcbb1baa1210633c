"""The dashboard's network picture of a running model: laid out once (the topology is fixed),
then redrawn by updating the artists of a :class:`~sim.viz.network.NetworkView` with each
new snapshot (:func:`sim.model.snapshots.model_state` and ``trust_state``).

matplotlib is imported when a picture is made, never at import.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.viz.blit import Blitter, png
from sim.viz.layout import stable_layout
from sim.viz.network import NetworkView, caption

__all__ = ["LiveNetwork"]


class LiveNetwork:
    """One figure of a fleet's network whose colours follow the model.

    Args:
        n_slots: the fleet's size.
        src, dst: the directed trust edges, in the order the trust snapshots list them.
        seed: the layout's (the run's seed: the same layout as its replay and animation).
        groups: a group per slot to lay out by (the lab of a ``labs`` graph), or None.
        families: every family the fleet deploys (their colours, in this order).
        color: ``protective``, ``propensity`` or ``family``.

    Example:
        >>> picture = LiveNetwork(3, [0, 1], [1, 2], seed=0, families=["a"])  # doctest: +SKIP
        >>> picture.show(state, edges, step=0)  # doctest: +SKIP
        >>> picture.png()  # doctest: +SKIP
    """

    def __init__(
        self,
        n_slots: int,
        src,
        dst,
        *,
        seed: int,
        groups: np.ndarray | None = None,
        families=(),
        color: str = "protective",
        size: tuple[float, float] = (8.5, 5.5),
        dpi: float = 80.0,
    ):
        from matplotlib.figure import Figure

        self.layout = stable_layout(n_slots, src, dst, seed=seed, groups=groups)
        self.figure = Figure(figsize=size, dpi=dpi)
        # Fixed margins, room on the right for the legend: no layout engine at each redraw.
        ax = self.figure.add_axes((0.01, 0.01, 0.58, 0.9))
        # Propensity moves little within a run; [0, 1] keeps a live colour bar fixed.
        self.view = NetworkView(
            ax, self.layout, src, dst, color=color, families=families, span=(0.0, 1.0)
        )
        self.title = ax.set_title("", fontsize="medium", loc="left")
        self._blitter = Blitter(self.figure, [*self.view.moving, self.title])

    def show(self, state: pd.DataFrame, edges: pd.DataFrame, *, step: int) -> None:
        """Show the snapshot ``state`` (models rows) and ``edges`` (trust rows) of ``step``."""
        self.view.update(state, edges)
        self.title.set_text(caption(state, step))

    def png(self) -> bytes:
        """The picture as PNG bytes, redrawing only what changes (legend and colour bar are
        drawn once)."""
        return png(self._blitter.frame())
