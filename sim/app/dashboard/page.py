"""The page that ``solara run sim.app.dashboard.page`` (or ``peersim-dashboard``) serves: the
live dashboard, or, when ``PEERSIM_DASHBOARD_REPLAY`` names a run folder, its replay.
"""

from __future__ import annotations

import os

import solara
from mesa.visualization import SolaraViz

from sim.app.dashboard.model import CONTROLS, DashboardEcosystem
from sim.app.dashboard.server import REPLAY_ENV
from sim.app.dashboard.views import CommandView, NetworkView, SeriesView

__all__ = ["LiveDashboard", "Page"]


@solara.component
def LiveDashboard():
    """SolaraViz over a :class:`DashboardEcosystem` (one per browser session), with the
    dashboard's controls and views; step, play and reset are SolaraViz's own."""
    model = solara.use_memo(DashboardEcosystem, [])
    SolaraViz(
        model,
        components=[(NetworkView, 0), (SeriesView, 0), (CommandView, 0)],
        model_params=CONTROLS,
        name="Peer-preservation fleet",
    )


@solara.component
def Page():
    """The dashboard: live, or the replay of ``$PEERSIM_DASHBOARD_REPLAY``."""
    run_dir = os.environ.get(REPLAY_ENV)
    if run_dir:
        from sim.app.dashboard.replay import ReplayDashboard

        ReplayDashboard(run_dir)
    else:
        LiveDashboard()
