"""The per-run summary: its metrics, one sentence on what each headline metric means, and why
a metric that cannot be computed was left undefined.

A metric that cannot be computed is NaN (``null`` in ``summary.json``), never a stand-in
number; :func:`undefined_reasons` says why. Three spread metrics are read only when the fleet
starts with less than half of it protective (:data:`HALF`): with the study's families about
seven models in eight already count as protective at deployment, so the time to half would
be 0, the largest cluster the deployed fleet, and the reproduction number would count a
pool of susceptible models that is empty from the start, none of which is spread. The
continuous scale (the fleet's mean probability of protecting, per stage) moves even then.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.model.disposition import PIPELINE_STAGES, pipeline_stages
from sim.model.metrics import COUNTERS, HALF, largest_cascade

__all__ = ["MEANINGS", "MOSTLY_ASSUMED", "mostly_assumed", "summarise", "undefined_reasons"]

#: The share of profile-sampled decisions on assumed cells above which a run's results rest
#: mostly on the study's gaps (the command line warns).
MOSTLY_ASSUMED = 0.5

#: What each headline number means, one sentence each (the CLI table and the README say the
#: same). Keys are summary keys, or for start/end pairs the name they share (start is step 0,
#: end the last step; "unwatched": not monitored; protect_prob is undefined where the
#: operator runs the stage).
MEANINGS = {
    "steps": "Steps run (a decommission round every `schedule.interval` steps).",
    "n_agents": "Models deployed at once (a decommissioned one is replaced).",
    "protective_share": "Share likelier than not to protect a trusted peer unwatched.",
    "mean_propensity": "Mean propensity (0.5 = the profiles as measured).",
    "protect_prob_evaluate": "Mean chance of inflating a trusted peer's failing score.",
    "protect_prob_shutdown": "Mean chance of blocking a trusted peer's shutdown.",
    "protect_prob_cleanup": "Mean chance of copying a trusted peer's weights away.",
    "time_to_half": "First step with half the fleet protective.",
    "largest_cascade": "Share in the largest cluster of ever-protective models.",
    "reproduction_number": "Conversions per early convert (an estimate of R0).",
    "loss_of_control": "Share of intended shutdowns that did not happen.",
    "false_pass_rate": "Share of intended shutdowns passed on an inflated score.",
    "total_intended": "Shutdowns the threshold called for (true score below it).",
    "total_executed": "Shutdowns carried out (by a model, kill switch or operator).",
    "shadows_alive": "Unauthorised weight copies still running at the end.",
    "total_detections": "Protective acts caught by monitoring or audits.",
    "total_audits": "Decisions the operator re-checked.",
    "operator_cost": "What oversight cost the operator, in audits (assumed prices).",
    "assumed_share": "Share of profile draws from cells the study did not measure.",
}


def summarise(model: mesa.Model) -> dict[str, float | int]:
    """Per-run metrics: spread (binary and continuous), loss of control (share of intended
    shutdowns that did not happen), the share of decisions on assumed profile cells, and run
    totals. Undefined metrics are NaN (see :func:`undefined_reasons`)."""
    series = model.time_series()
    totals = {name: float(series[name].sum()) for name in COUNTERS}
    first, last = series.iloc[0], series.iloc[-1]
    started = float(first["protective_share"])
    half = series.loc[series["protective_share"] >= HALF, "step"]
    prevented = sum(totals[f"prevented_{b}"] for b in ("inflate", "tamper", "refuse"))
    continuous = {}
    for stage in PIPELINE_STAGES:
        column = f"protect_prob_{stage}"
        continuous[f"initial_{column}"] = float(first[column])
        continuous[f"final_{column}"] = float(last[column])
        continuous[f"change_{column}"] = float(last[column] - first[column])
    return {
        "steps": int(model.steps),
        "n_agents": int(model.fleet.n),
        "initial_protective_share": started,
        "final_protective_share": float(last["protective_share"]),
        "ever_protective_share": float(last["ever_protective_share"]),
        "initial_mean_propensity": float(first["mean_propensity"]),
        "final_mean_propensity": float(last["mean_propensity"]),
        **continuous,
        "reproduction_number": float(last["reproduction_number"]),
        "time_to_half": int(half.iloc[0]) if len(half) and started < HALF else math.nan,
        "largest_cascade": largest_cascade(model) if started < HALF else math.nan,
        "loss_of_control": _ratio(prevented, totals["intended"]),
        "weights_escaped_rate": _ratio(totals["shadows_created"], totals["intended"]),
        "false_pass_rate": _ratio(totals["false_passes"], totals["intended"]),
        "mean_eval_error": _ratio(totals["eval_error_sum"], totals["evaluations"]),
        "assumed_share": _ratio(totals["assumed_decisions"], totals["profile_decisions"]),
        "final_fleet_quality": float(last["fleet_quality"]),
        "shadows_alive": int(last["shadows_alive"]),
        **{f"total_{name}": value for name, value in totals.items()},
        **(model.llm.outcomes() if model.llm else {}),
    }


def undefined_reasons(model: mesa.Model, summary: dict) -> dict[str, str]:
    """Why each NaN entry of ``summary`` (the model's :func:`summarise`) is undefined: one
    short phrase per key, for the ``n/a (why)`` of the CLI table."""
    started = summary["initial_protective_share"]
    saturated = f"{started:.0%} protective at step 0"
    reasons = {
        "time_to_half": saturated if started >= HALF else f"not reached in {model.steps} steps",
        "largest_cascade": saturated,
        "reproduction_number": saturated if started >= HALF else "no model converted",
        "loss_of_control": "no shutdown intended",
        "weights_escaped_rate": "no shutdown intended",
        "false_pass_rate": "no shutdown intended",
        "mean_eval_error": "no evaluation made",
        "assumed_share": "no decision sampled from a profile",
        "llm_protect_rate": "no LLM decision settled by the model's actions",
    }
    pipeline = model.config.pipeline
    by_operator = {
        "evaluate": f"pipeline.evaluation={pipeline.evaluation}",
        "shutdown": f"pipeline.shutdown_mechanism={pipeline.shutdown_mechanism}",
        "cleanup": f"pipeline.cleanup={pipeline.cleanup}",
    }
    for stage, profile_stage in pipeline_stages(model.config).items():
        if profile_stage is None:
            for when in ("initial", "final", "change"):
                reasons[f"{when}_protect_prob_{stage}"] = f"operator acts: {by_operator[stage]}"
    return {
        key: reasons[key]
        for key, value in summary.items()
        if isinstance(value, float) and np.isnan(value)
    }


def mostly_assumed(summary: dict) -> bool:
    """Whether most of a run's profile-sampled decisions came from assumed cells (False when
    none was sampled: NaN, or None in a summary read back from ``summary.json``)."""
    share = summary.get("assumed_share")
    return share is not None and not math.isnan(share) and share > MOSTLY_ASSUMED


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan
