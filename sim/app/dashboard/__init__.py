"""The SolaraViz dashboard (``peersim-dashboard``): a live :class:`sim.Ecosystem` with the
controls a researcher turns most (:mod:`~sim.app.dashboard.model`), its views
(:mod:`~sim.app.dashboard.views`), the replay of a finished run folder, and the server
(:mod:`~sim.app.dashboard.server`). Needs the ``dashboard`` extra (solara).
"""
