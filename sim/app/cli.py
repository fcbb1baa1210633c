"""Command line: ``peersim [OVERRIDES]`` or ``python -m sim [OVERRIDES]`` (Hydra).

With no arguments it runs the default fleet and prints a summary and the run folder.
Every config is checked before Hydra creates any output folder (:mod:`sim.app.validation`):
the command line here, and each run of a sweep by the callback that ``conf/config.yaml``
installs. A multirun (``-m``) is a sweep: resumable, with derived seeds and failed runs
recorded, each run computed once (:mod:`sim.app.sweep`, :mod:`sim.app.sweep_book`).
"""

from __future__ import annotations

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

__all__ = ["main"]

# At import, not in main(): launcher workers import this module (to unpickle the task
# function) and resolve the folder names in their jobs' configs.
naming.register_resolvers()

#: Summary entries printed after a run, with their labels.
SHOWN = {
    "steps": "steps",
    "n_agents": "models",
    "initial_protective_share": "protective share (start)",
    "final_protective_share": "protective share (end)",
    "time_to_half": "steps to half protective",
    "largest_cascade": "largest protective cluster",
    "reproduction_number": "reproduction number",
    "loss_of_control": "loss of control",
    "false_pass_rate": "false-pass rate",
    "total_intended": "shutdowns intended",
    "total_executed": "shutdowns executed",
    "shadows_alive": "shadow copies alive",
    "total_detections": "detections",
}
#: Shown too when a run used the llm engine.
SHOWN_LLM = {
    "llm_decisions": "LLM decisions",
    "llm_calls": "LLM calls",
    "llm_cache_hits": "LLM cache hits",
    "llm_prompt_tokens": "LLM prompt tokens",
    "llm_completion_tokens": "LLM completion tokens",
    "llm_cost": "LLM cost (USD)",
    "llm_errors": "LLM errors (after retries)",
    "llm_budget_exceeded": "decisions over budget",
    "llm_rejected_answers": "answers rejected (cap, args)",
}


def format_summary(summary: dict, output_dir: str) -> str:
    """The short table printed after a run."""
    rows = []
    shown_keys = {**SHOWN, **(SHOWN_LLM if "llm_calls" in summary else {})}
    for key, label in shown_keys.items():
        value = summary.get(key)
        shown = "n/a" if value is None else f"{value:.3g}" if isinstance(value, float) else value
        rows.append(f"  {label:<28} {shown}")
    return "\n".join([*rows, f"  {'output folder':<28} {output_dir}"])


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
    seeded = replace(app, seed=job.seed)
    return sweep.run_job(job, lambda: _execute(seeded, cfg, output_dir, job.provenance()))


def _execute(app, cfg: DictConfig, output_dir: str, provenance: dict | None = None) -> dict:
    from sim.app.runner import execute

    result = execute(app, cfg, output_dir=output_dir, progress=app.progress, provenance=provenance)
    if "dry_run" in result.summary:
        print(format_estimate(result.summary["dry_run"]))
    else:
        print(format_summary({**result.summary, **result.llm_usage}, output_dir))
    return result.summary


def main() -> None:
    """Entry point of ``peersim`` and ``python -m sim``."""
    register()
    # Hydra reads sys.argv: with the credentials taken out, no config it composes holds one.
    sys.argv[1:] = check_command_line(sys.argv[1:])
    _run()
