"""The Mesa model: the :class:`~sim.model.ecosystem.Ecosystem`, its agents, the decommission
pipeline, evaluator assignment, contagion, the ledger of deployed models, the metrics, the
continuous spread scale (disposition) and the per-run summary.

May import :mod:`sim.engines`, :mod:`sim.network` and :mod:`sim.core`; never the app, io or
viz.
"""
