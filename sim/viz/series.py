"""The dashboard's time-series panel: protective share and mean propensity, loss of control,
false-pass rate and shadows alive, drawn once and then updated in place (new line data, a
moved cursor), so that a live model or a replayed run redraws without rebuilding the figure.

matplotlib is imported when a panel is made, never at import.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.viz.blit import Blitter, png

__all__ = ["HORIZON", "PANELS", "SeriesPanel", "running_rates"]

#: The plots' step axis grows in jumps of this many steps.
HORIZON = 50

#: The panel's axes, left to right and top to bottom: title -> columns of
#: :func:`running_rates` drawn on it.
PANELS = {
    "protective share / mean propensity": ("protective_share", "mean_propensity"),
    "loss of control (so far)": ("loss_of_control",),
    "false-pass rate (so far)": ("false_pass_rate",),
    "shadow copies alive": ("shadows_alive",),
}
_PREVENTED = ("prevented_inflate", "prevented_tamper", "prevented_refuse")


def running_rates(series: pd.DataFrame) -> pd.DataFrame:
    """The panel's columns from a run's time series (``Ecosystem.time_series()`` or a run
    folder's ``time_series.parquet``).

    Loss of control and the false-pass rate are cumulative, as the run's summary counts them
    (prevented or falsely passed shutdowns over all intended so far), so their last value is
    the summary's; NaN until a shutdown was intended.
    """
    intended = series["intended"].cumsum().to_numpy(float)
    prevented = series[list(_PREVENTED)].sum(axis=1).cumsum().to_numpy(float)
    false_passes = series["false_passes"].cumsum().to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.where(intended > 0, prevented / intended, np.nan)
        false_pass = np.where(intended > 0, false_passes / intended, np.nan)
    return pd.DataFrame(
        {
            "step": series["step"].to_numpy(),
            "protective_share": series["protective_share"].to_numpy(float),
            "mean_propensity": series["mean_propensity"].to_numpy(float),
            "loss_of_control": loss,
            "false_pass_rate": false_pass,
            "shadows_alive": series["shadows_alive"].to_numpy(float),
        }
    )


class SeriesPanel:
    """A 2 x 2 figure of :data:`PANELS` whose lines and cursor are updated in place.

    Example:
        >>> panel = SeriesPanel()  # doctest: +SKIP
        >>> panel.update(running_rates(model.time_series()), cursor=10)  # doctest: +SKIP
        >>> panel.png()  # doctest: +SKIP
    """

    def __init__(self, *, figsize: tuple[float, float] = (8.0, 5.0), dpi: float = 80.0):
        from matplotlib.figure import Figure

        # Fixed margins: a layout engine would re-measure every label at each redraw (it
        # doubled the time to draw the panel).
        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.figure.subplots_adjust(left=0.07, right=0.98, bottom=0.1, top=0.94, hspace=0.3)
        axes = self.figure.subplots(2, 2, sharex=True).ravel()
        self.lines: dict[str, object] = {}
        for ax, (title, columns) in zip(axes, PANELS.items(), strict=True):
            ax.set_title(title, fontsize=9)
            for column in columns:
                (self.lines[column],) = ax.plot(
                    [], [], marker=".", markersize=3, label=column.replace("_", " ")
                )
            if len(columns) > 1:
                ax.legend(fontsize=7, loc="upper left")
            ax.tick_params(labelsize=7)
        for ax in axes[:3]:
            ax.set_ylim(-0.02, 1.02)  # shares and rates
        for ax in axes[2:]:
            ax.set_xlabel("step", fontsize=8)
        self.axes = axes
        # Hidden until a cursor is asked for (replay mode).
        self.cursors = [ax.axvline(0.0, color="0.3", lw=0.8, ls="--", visible=False) for ax in axes]
        self._limits: tuple[float, float] | None = None
        self._blitter: Blitter | None = None

    def update(self, rates: pd.DataFrame, *, cursor: int | None = None) -> None:
        """Show ``rates`` (:func:`running_rates`) and, if given, a cursor at step ``cursor``.

        The axes' limits move in coarse jumps (steps to the next multiple of
        :data:`HORIZON`, shadows to the next 1, 2 or 5 times a power of ten), so that most
        updates change only the lines and the cursor, and :meth:`png` redraws only those.
        """
        steps = rates["step"].to_numpy(float)
        for column, line in self.lines.items():
            line.set_data(steps, rates[column].to_numpy(float))
        last = float(steps[-1]) if steps.size else 0.0
        peak = float(np.nanmax(rates["shadows_alive"].to_numpy(float), initial=0.0))
        limits = (HORIZON * max(math.ceil(last / HORIZON), 1), _round_up(peak * 1.1))
        if limits != self._limits:
            self._limits = limits
            for ax in self.axes:
                ax.set_xlim(0.0, limits[0])
            self.axes[3].set_ylim(0.0, limits[1])
            self._blitter = None  # the axes changed: a full draw first
        for line in self.cursors:
            line.set_visible(cursor is not None)
            if cursor is not None:
                line.set_xdata([cursor, cursor])

    def png(self) -> bytes:
        """The panel as PNG bytes; only the lines and the cursor are redrawn unless the
        axes' limits moved."""
        if self._blitter is None:
            self._blitter = Blitter(self.figure, [*self.lines.values(), *self.cursors])
        return png(self._blitter.frame())


def _round_up(value: float) -> float:
    """The smallest of 1, 2, 5, 10, 20, 50, ... at or above ``value`` (1 at least)."""
    if value <= 1.0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= value)
