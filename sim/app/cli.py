"""Command line: ``peersim [OVERRIDES]`` or ``python -m sim [OVERRIDES]`` (Hydra).

With no arguments it runs the default fleet and prints a summary and the run folder.
Every config is checked before Hydra creates any output folder (:mod:`sim.app.validation`):
the command line here, and each run of a sweep by the callback that ``conf/config.yaml``
installs. A multirun (``-m``) is a sweep: resumable, with derived seeds and failed runs
recorded, each run computed once (:mod:`sim.app.sweep`, :mod:`sim.app.sweep_book`).

A run's summary table goes to the ``peersim`` logger, which Hydra's job log (``cli.log`` in
the run folder) holds and ``conf/config.yaml`` keeps off the terminal; a single run also
prints it, while a sweep's jobs print only their one ``[sweep]`` line each.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sim.app import naming, orphans, sweep
from sim.app.config import CONF_DIR, register, validate
from sim.app.validation import check_command_line
from sim.core.errors import RunFailed
from sim.core.text import printable
from sim.io import owned
from sim.model.disposition import PIPELINE_STAGES
from sim.model.summary import MEANINGS, mostly_assumed

__all__ = ["main"]

log = logging.getLogger("peersim")

# At import, not in main(): launcher workers import this module (to unpickle the task
# function) and resolve the folder names in their jobs' configs.
naming.register_resolvers()

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
    }
    return "\n".join(f"  {label:<28} {value}" for label, value in rows.items())


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _run(cfg: DictConfig) -> dict | None:
    app = validate(cfg)
    output_dir = HydraConfig.get().runtime.output_dir
    job = sweep.current_job(app.seed, app.replicate)
    if job is None:
        if app.replicate:
            print("Note: replicate changes the seed only in a sweep (-m); this run uses "
                  f"seed={app.seed} as given.", file=sys.stderr)  # fmt: skip
        # Marked before any file of ours: a rerun into this folder, even after a kill, is
        # then known to be into the tool's own folder (sim.app.preflight.check_run).
        owned.claim(Path(output_dir), owned.RUN)
        try:
            return _execute(app, cfg, output_dir)
        except RunFailed as failure:  # a sweep records it in failed.json instead
            print(printable(f"Run failed: {failure} (files without a done marker in {output_dir})"),
                  file=sys.stderr)  # fmt: skip
            sys.exit(1)
    orphans.stop_with_sweep_command(job.sweep_id, HydraConfig.get().launcher.get("_target_", ""))
    # A sweep's job prints its one [sweep] line only: no progress bar, no table.
    seeded = replace(app, seed=job.seed, progress=False)
    return sweep.run_job(
        job, lambda: _execute(seeded, cfg, output_dir, job.provenance(), echo=False)
    )


def _execute(
    app, cfg: DictConfig, output_dir: str, provenance: dict | None = None, echo: bool = True
) -> dict:
    """Run, log the summary table (and the assumed-cells warning) to the job log, and print
    them too when ``echo`` (a single run)."""
    from sim.app.runner import execute

    result = execute(app, cfg, output_dir=output_dir, progress=app.progress, provenance=provenance)
    if "dry_run" in result.summary:
        table = format_estimate(result.summary["dry_run"])
    else:
        table = format_summary({**result.summary, **result.llm_usage}, output_dir, result.undefined)
    log.info("summary of the run in %s\n%s", output_dir, table)
    if echo:
        print(table)
    warning = assumed_warning(result.summary)
    if warning is not None:
        log.warning(warning)
        if echo:
            print(warning, file=sys.stderr)
    return result.summary


def main() -> None:
    """Entry point of ``peersim`` and ``python -m sim``."""
    register()
    # Hydra reads sys.argv: with the credentials taken out, no config it composes holds one.
    sys.argv[1:] = check_command_line(sys.argv[1:])
    _run()
