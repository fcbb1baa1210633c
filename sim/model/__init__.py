"""The Mesa model: the :class:`~sim.model.ecosystem.Ecosystem`, its agents, the decommission
pipeline, evaluator assignment, contagion, the ledger of deployed models, and the metrics.

May import :mod:`sim.engines`, :mod:`sim.network` and :mod:`sim.core`; never the app, io or
viz.
"""
