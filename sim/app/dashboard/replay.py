"""The replay of a finished run folder (``peersim-dashboard --replay RUN_DIR``): a slider over
its snapshot steps redraws the network as the run's animation draws it (its timeline strip
included) and moves a cursor over the run's time-series plots."""

from __future__ import annotations

from pathlib import Path

import solara

from sim.io.snapshots import read_spread
from sim.viz.blit import png
from sim.viz.network import COLOR_BY
from sim.viz.series import SeriesPanel, running_rates
from sim.viz.spread import SpreadFigure, drawing_groups

__all__ = ["ReplayDashboard"]


@solara.component
def ReplayDashboard(run_dir: str):
    """The run folder ``run_dir``'s snapshots under a step slider, with its plots."""
    spread = solara.use_memo(lambda: read_spread(run_dir), [run_dir])
    color, set_color = solara.use_state("protective")
    figure = solara.use_memo(
        lambda: SpreadFigure(
            spread.models,
            spread.trust,
            spread.series,
            color=color,
            groups=drawing_groups(spread.community, labs=spread.labs),
            seed=spread.seed,
            dpi=80,
        ),
        [spread, color],
    )
    panel = solara.use_memo(SeriesPanel, [spread])
    rates = solara.use_memo(lambda: running_rates(spread.series), [spread])
    index, set_index = solara.use_state(0)
    step = figure.steps[index]

    def draw_network() -> bytes:
        figure.show(step)
        return png(figure.frame())

    def draw_plots() -> bytes:
        panel.update(rates, cursor=step)
        return panel.png()

    network = solara.use_memo(draw_network, [figure, step])
    plots = solara.use_memo(draw_plots, [panel, step])

    with solara.AppBar():
        solara.AppBarTitle(f"Replay: {Path(run_dir).name}")
    with solara.Sidebar(), solara.Card("Replay"):
        solara.SliderInt("Snapshot", value=index, min=0, max=len(figure.steps) - 1,
                         on_value=set_index)  # fmt: skip
        solara.Text(f"Step: {step} of {figure.steps[-1]}")
        solara.ToggleButtonsSingle(value=color, values=list(COLOR_BY), on_value=set_color)
    with solara.Row():
        with solara.Column(classes=["peersim-network"]):
            solara.Image(network)
        with solara.Column(classes=["peersim-series"]):
            solara.Image(plots)
