"""The live dashboard's views of a model, as solara components that SolaraViz places on its
page and redraws after every step (Mesa's ``update_counter``).

Each view keeps one matplotlib figure per model (``solara.use_memo`` on the model) and
updates its artists; a reset makes a new model, hence new figures.
"""

from __future__ import annotations

import shlex

import solara
from mesa.visualization.utils import update_counter

from sim.viz.series import SeriesPanel, running_rates

__all__ = ["CommandView", "SeriesView"]


@solara.component
def SeriesView(model):
    """Protective share / mean propensity, loss of control, false-pass rate and shadows alive,
    from the model's time series."""
    tick = update_counter.get()
    panel = solara.use_memo(SeriesPanel, [model])
    panel.update(running_rates(model.time_series()))
    with solara.Column(classes=["peersim-series"]):
        solara.FigureMatplotlib(panel.figure, format="png", dependencies=[model, tick, model.steps])


@solara.component
def CommandView(model):
    """The command line that runs the model on display (its controls as overrides)."""
    command = " ".join(["python -m sim", *map(shlex.quote, model.overrides)])
    # Text, not Markdown: solara's Markdown loads KaTeX from a CDN, which may be unreachable.
    with solara.Column(classes=["peersim-command"]):
        solara.Text("Same run from the command line (add steps=N):")
        solara.Preformatted(command)
