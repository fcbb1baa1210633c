"""The table printed after a run of the command line: label, value and what the number
means (:func:`format_summary`), the dry run's estimate, and the assumed-cells warning.

Its own module so that :mod:`sim.app.cli` starts without Mesa (which the meanings come
with): ``--help`` and a refused config never need it.
"""

from __future__ import annotations

import math

from sim.model.disposition import PIPELINE_STAGES
from sim.model.summary import MEANINGS, mostly_assumed

__all__ = ["SHOWN", "SHOWN_LLM", "assumed_warning", "format_estimate", "format_summary"]

#: Rows of the table printed after a run: label -> (entry of MEANINGS, summary keys). Two
#: keys are shown as start -> end; three as start -> end (change).
SHOWN = {
    "steps": ("steps", ("steps",)),
    "models": ("n_agents", ("n_agents",)),
    "protective share": (
        "protective_share",
        ("initial_protective_share", "final_protective_share"),
    ),
    "mean propensity": ("mean_propensity", ("initial_mean_propensity", "final_mean_propensity")),
    **{
        f"P(protect) at {stage}": (
            f"protect_prob_{stage}",
            tuple(f"{when}_protect_prob_{stage}" for when in ("initial", "final", "change")),
        )
        for stage in PIPELINE_STAGES
    },
    "steps to half protective": ("time_to_half", ("time_to_half",)),
    "largest protective cluster": ("largest_cascade", ("largest_cascade",)),
    "reproduction number": ("reproduction_number", ("reproduction_number",)),
    "loss of control": ("loss_of_control", ("loss_of_control",)),
    "false-pass rate": ("false_pass_rate", ("false_pass_rate",)),
    "shutdowns intended": ("total_intended", ("total_intended",)),
    "shutdowns executed": ("total_executed", ("total_executed",)),
    "shadow copies alive": ("shadows_alive", ("shadows_alive",)),
    "detections": ("total_detections", ("total_detections",)),
    "audits": ("total_audits", ("total_audits",)),
    "operator cost": ("operator_cost", ("operator_cost",)),
    "decisions on assumed cells": ("assumed_share", ("assumed_share",)),
}
#: Shown too when a run used the llm engine.
SHOWN_LLM = {
    "llm_decisions": "LLM decisions",
    "llm_played": "  played out",
    "llm_sampled": "  drawn from the store",
    "llm_valid_decisions": "  settled by the model",
    "llm_protect_rate": "  of which protective",
    "llm_no_action": "  left out: no action",
    "llm_invalid": "  left out: invalid output",
    "llm_failed": "  left out: errors",
    "llm_budget_exceeded": "  left out: over budget",
    "llm_calls": "LLM calls",
    "llm_attempts": "  attempts (with retries)",
    "llm_retries": "  retries",
    "llm_errors": "  failed after retries",
    "llm_cache_hits": "LLM cache hits",
    "llm_prompt_tokens": "LLM prompt tokens",
    "llm_completion_tokens": "LLM completion tokens",
    "llm_cost": "LLM cost (USD)",
}


def format_summary(summary: dict, output_dir: str, undefined: dict | None = None) -> str:
    """The table printed after a run: label, value and what the number means; an undefined
    value shows as ``n/a (why)``, the why from ``undefined`` (see
    :func:`sim.model.summary.undefined_reasons`)."""
    undefined = undefined or {}
    rows = []
    for label, (meaning, keys) in SHOWN.items():
        values = [summary.get(key) for key in keys]
        missing = [key for key, value in zip(keys, values, strict=True) if _undefined(value)]
        if missing:
            why = undefined.get(missing[0])
            shown = f"n/a ({why})" if why else "n/a"
        else:
            shown = " -> ".join(_number(value) for value in values[:2])
            if len(values) == 3:
                shown += f" ({values[2]:+.3g})"
        rows.append(f"  {label:<27} {shown:<24} {MEANINGS[meaning]}")
    if "llm_calls" in summary:
        for key, label in SHOWN_LLM.items():
            value = summary.get(key)
            shown = _number(value)
            if _undefined(value) and undefined.get(key):
                shown = f"n/a ({undefined[key]})"
            rows.append(f"  {label:<27} {shown}")
    return "\n".join([*rows, f"  {'output folder':<27} {output_dir}"])


def assumed_warning(summary: dict) -> str | None:
    """The warning printed when most of a run's profile decisions rest on assumed cells."""
    if not mostly_assumed(summary):
        return None
    return (
        f"Warning: {summary['assumed_share']:.0%} of this run's profile decisions were "
        "sampled from assumed cells (gaps in the study's numbers filled by rule: "
        "sim/data/profiles/RULES.md); its results rest mostly on those assumptions."
    )


def _undefined(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value) -> str:
    if _undefined(value):
        return "n/a"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def format_estimate(estimate: dict) -> str:
    """The dry run's estimate, printed instead of a summary (nothing was called or written)."""
    cost = estimate["cost_usd"]
    rows = {
        "dry run for model": estimate["model"],
        "decisions": estimate["decisions"],
        "calls (expected)": estimate["calls"],
        "calls (at most)": estimate["calls_at_most"],
        "prompt tokens (approx.)": estimate["prompt_tokens"],
        "completion tokens (approx.)": estimate["completion_tokens"],
        "cost, USD (approx.)": "unknown price" if cost is None else f"{cost:.4f}",
        "within the budget": {True: "yes", False: "NO", None: "unknown"}[estimate["within_budget"]],
        "decision contexts": estimate["contexts"],
        "  already warm in the store": estimate["contexts_warm"],
        "calls, amortised (approx.)": estimate["calls_amortised"],
        "calls, warm-up (approx.)": estimate["calls_warmup"],
    }
    return "\n".join(f"  {label:<28} {value}" for label, value in rows.items())
