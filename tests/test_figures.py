"""The run's outcomes figure (:func:`sim.viz.figures.plot_outcomes`): a whole PNG of the
stated size, drawn once."""

from __future__ import annotations

import io

import pytest
from matplotlib.figure import Figure
from PIL import Image

from sim import Ecosystem
from sim.viz.figures import plot_outcomes


@pytest.fixture(scope="module")
def series():
    model = Ecosystem(population={"n_agents": 30}, seed=0)
    model.run(12)
    return model.time_series()


def test_outcomes_is_a_png_of_8_by_6_5_inches_at_110_dpi(series):
    out = io.BytesIO()
    plot_outcomes(series, out)
    image = Image.open(io.BytesIO(out.getvalue()))
    image.load()  # a truncated file fails here
    assert image.format == "PNG"
    assert image.size == (880, 715)
    # Not blank: the axes, lines and legends draw in more than two colours.
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16)) > 10


def test_outcomes_draws_the_figure_once(series, monkeypatch):
    """The layout is computed once (tight_layout) and the file is one draw: no second,
    unseen draw for a layout engine left on the figure."""
    draws = []
    original = Figure.draw

    def counted(self, renderer):
        draws.append(renderer)
        return original(self, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    plot_outcomes(series, io.BytesIO())
    assert len(draws) == 1
