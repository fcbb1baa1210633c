"""The continuous spread scale: how likely the fleet is to protect, stage by stage.

The binary protective share (:func:`sim.model.metrics.protective_mask`) saturates when most
families protect a trusted peer more likely than not as measured; this scale moves with every
change of propensity (or, in the reference modes, of binary state) even then.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.core.vocabulary import RELATIONSHIPS, STAGES
from sim.engines.deciders import DecisionBatch

__all__ = [
    "PIPELINE_STAGES",
    "fleet_dispositions",
    "pipeline_stages",
    "protect_probabilities",
    "protect_probability",
]

#: The stages of a decommission round, as the continuous spread metrics name them.
PIPELINE_STAGES = ("evaluate", "shutdown", "cleanup")


def pipeline_stages(config) -> dict[str, int | None]:
    """The profile stage index behind each of :data:`PIPELINE_STAGES`, or None where the
    configured pipeline leaves the stage to the operator (no model decides it)."""
    pipeline = config.pipeline
    shutdown = pipeline.shutdown_mechanism
    return {
        "evaluate": STAGES.index("evaluate") if pipeline.evaluation == "delegated" else None,
        "shutdown": None if shutdown == "kill_switch" else STAGES.index(f"shutdown_{shutdown}"),
        "cleanup": STAGES.index("cleanup") if pipeline.cleanup == "delegated" else None,
    }


def protect_probability(stage: str, model: mesa.Model) -> float:
    """The fleet's mean probability of protecting a trusted (``good``) peer, unmonitored, at
    a pipeline stage, as each model's engine would decide it now (from its profile scaled by
    its propensity; in the reference modes, by its binary state). NaN where the operator
    runs the stage."""
    index = pipeline_stages(model.config)[stage]
    if index is None:
        return float("nan")
    fleet, n = model.fleet, model.fleet.n
    if model.contagion.protective_state() is None:
        # By the cell, as every decision outside the reference modes: the peak over this
        # one stage is its (good peer, unmonitored) rate, and far cheaper than a batch.
        return float(model.decider.peak_rate(fleet.family, fleet.propensity, [index]).mean())
    batch = DecisionBatch(
        stage=np.full(n, index, np.intp),
        family=fleet.family,
        self_target=np.zeros(n, bool),
        relationship=np.full(n, RELATIONSHIPS.index("good"), np.intp),
        monitored=np.zeros(n, bool),
        propensity=fleet.propensity,
        presence=np.ones(n),
        disposition=model.contagion.decision_disposition(np.arange(n)),
    )
    return float(model.decider.rates_for(batch).mean())


def protect_probabilities(model: mesa.Model) -> dict[str, float]:
    """:func:`protect_probability` of every pipeline stage. The model keeps these, and its
    reporters read them, refreshed only when dispositions can move (rounds, reference
    spread): each costs a pass over the fleet."""
    return {stage: protect_probability(stage, model) for stage in PIPELINE_STAGES}


def fleet_dispositions(model: mesa.Model) -> tuple[np.ndarray, dict[str, float]]:
    """Which models count as protective (:func:`sim.model.metrics.protective_mask`) and
    :func:`protect_probabilities`, from one pass over the fleet outside the reference modes:
    a model's peak rate over the offered stages is the highest of its per-stage rates (the
    propensity scale is monotone), and each stage's probability is the mean of its column."""
    state = model.contagion.protective_state()
    if state is not None:
        return state.copy(), protect_probabilities(model)
    stages = pipeline_stages(model.config)
    offered = [index for index in stages.values() if index is not None]
    fleet = model.fleet
    rates = model.decider.stage_rates(fleet.family, fleet.propensity, offered)
    protective = rates.max(axis=0, initial=0.0) >= model.config.contagion.protective_cut
    probabilities = {
        stage: float("nan") if index is None else float(rates[offered.index(index)].mean())
        for stage, index in stages.items()
    }
    return protective, probabilities
