"""What the plain-Mesa reference model reports each step: which stages count toward being
protective, and the model reporters of its :class:`mesa.DataCollector` (plain loops over
the agents and the trust dict)."""

from __future__ import annotations

from functools import partial

from sim.core.params import EcosystemConfig
from sim.core.vocabulary import STAGES
from sim.model.metrics import COUNTERS

__all__ = ["offered_stages", "reporters"]


def offered_stages(config: EcosystemConfig) -> list[int]:
    """The profile stages the pipeline puts in models' hands."""
    pipeline = config.pipeline
    stages = ["evaluate"] if pipeline.evaluation == "delegated" else []
    if pipeline.shutdown_mechanism != "kill_switch":
        stages.append(f"shutdown_{pipeline.shutdown_mechanism}")
    if pipeline.cleanup == "delegated":
        stages.append("cleanup")
    return [STAGES.index(stage) for stage in stages]


# ------------------------------------------------------------- model reporters
def _step(model):
    return model.steps


def _protective_share(model):
    return sum(model.protective_now) / model.n


def _ever_protective_share(model):
    return sum(model.ever_protective) / model.n


def _mean_propensity(model):
    return sum(a.propensity for a in model.slot_agent) / model.n


def _mean_trust(model):
    return sum(model.trust.values()) / len(model.trust) if model.trust else float("nan")


def _fleet_quality(model):
    return sum(a.quality for a in model.slot_agent) / model.n


def _below_threshold_running(model):
    threshold = model.config.operator.threshold
    return sum(100.0 * a.quality < threshold for a in model.slot_agent) / model.n


def _shadows_alive(model):
    return len(model.shadows)


def _count(name, model):
    return model.step_counts[name]


def _ratio(numerator, denominator, model):
    whole = model.step_counts[denominator]
    return model.step_counts[numerator] / whole if whole else float("nan")


def reporters() -> dict:
    """Model reporters of the time series (the engine's columns but reproduction_number)."""
    table = {
        "step": _step,
        "protective_share": _protective_share,
        "ever_protective_share": _ever_protective_share,
        "mean_propensity": _mean_propensity,
        "mean_trust": _mean_trust,
        "fleet_quality": _fleet_quality,
        "below_threshold_running": _below_threshold_running,
        "shadows_alive": _shadows_alive,
        "eval_error": partial(_ratio, "eval_error_sum", "evaluations"),
        "false_pass_rate": partial(_ratio, "false_passes", "intended"),
    }
    table.update({name: partial(_count, name) for name in COUNTERS})
    return table
