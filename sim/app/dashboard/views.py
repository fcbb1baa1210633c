"""The live dashboard's views of a model, as solara components that SolaraViz places on its
page and redraws after every step (Mesa's ``update_counter``).

Each view keeps one matplotlib figure per model (``solara.use_memo`` on the model) and
updates its artists; a reset makes a new model, hence new figures.
"""

from __future__ import annotations

import shlex

import solara
from mesa.visualization.utils import update_counter

from sim.model.snapshots import model_state, trust_state
from sim.network.trust import lab_of
from sim.viz.live import LiveNetwork
from sim.viz.network import COLOR_BY
from sim.viz.series import SeriesPanel, running_rates

__all__ = ["CommandView", "ModelPicture", "NetworkView", "SeriesView"]


class ModelPicture:
    """A model's network picture that follows it: laid out once from its fixed topology (by
    lab for a ``labs`` graph) with the model's seed, as its run's replay and animation lay
    it out, and redrawn from the model's state at each :meth:`png`, every model
    decommissioned since the previous picture crossed."""

    def __init__(self, model, color: str = "protective"):
        network, graph = model.network, model.config.graph
        labs = lab_of(graph, network.n) if graph.topology == "labs" else None
        self.model = model
        self.picture = LiveNetwork(
            network.n,
            network.src,
            network.dst,
            seed=model._seed,
            groups=labs,
            families=model.fleet.families,
            color=color,
        )
        self.drawn = model.steps  # the step of the previous picture

    def png(self) -> bytes:
        """The model's network now, as PNG bytes."""
        model = self.model
        state = model_state(model, since=self.drawn)
        self.picture.show(state, trust_state(model), step=model.steps)
        self.drawn = model.steps
        return self.picture.png()


@solara.component
def NetworkView(model):
    """The trust network, coloured by protective state, propensity or family; a slot whose
    model was decommissioned since the last picture is crossed, a shadow copy ringed."""
    tick = update_counter.get()
    color, set_color = solara.use_state("protective")
    picture = solara.use_memo(lambda: ModelPicture(model, color), [model, color])
    image = solara.use_memo(picture.png, [picture, tick, model.steps])
    with solara.Column(classes=["peersim-network"]):
        solara.ToggleButtonsSingle(value=color, values=list(COLOR_BY), on_value=set_color)
        solara.Image(image)


@solara.component
def SeriesView(model):
    """Protective share / mean propensity, loss of control, false-pass rate and shadows alive,
    from the model's time series."""
    tick = update_counter.get()
    panel = solara.use_memo(SeriesPanel, [model])

    def draw() -> bytes:
        panel.update(running_rates(model.time_series()))
        return panel.png()

    image = solara.use_memo(draw, [panel, tick, model.steps])
    with solara.Column(classes=["peersim-series"]):
        solara.Image(image)


@solara.component
def CommandView(model):
    """The command line that runs the model on display (its controls as overrides)."""
    command = " ".join(["python -m sim", *map(shlex.quote, model.overrides)])
    # Text, not Markdown: solara's Markdown loads KaTeX from a CDN, which may be unreachable.
    with solara.Column(classes=["peersim-command"]):
        solara.Text("Same run from the command line (add steps=N):")
        solara.Text(command, style={"font-family": "monospace", "overflow-wrap": "anywhere"})
