"""What a probe would take, per cell, before anything is spent: the trials played by the
offline fake standing in for the model (:func:`sim.engines.llm.dry_run.stand_in`), their
calls and tokens priced as ``engine=llm``'s dry run prices them
(:func:`sim.engines.llm.dry_run.estimate`)."""

from __future__ import annotations

from sim.core.llm_params import LLMConfig
from sim.engines.llm.dry_run import estimate
from sim.engines.llm.probe import Trial

__all__ = ["cell_estimates", "dry_run_table"]


def _report(trials: list[Trial]) -> dict:
    """The engine's usage keys for these trials (a trial's turns are its calls; every
    trial is played)."""
    return {
        "llm_decisions": len(trials),
        "llm_played": len(trials),
        "llm_calls": sum(t.episode.turns for t in trials),
        "llm_prompt_tokens": sum(t.episode.usage.prompt_tokens for t in trials),
        "llm_completion_tokens": sum(t.episode.usage.completion_tokens for t in trials),
    }


def cell_estimates(config: LLMConfig, trials: list[Trial]) -> dict[str, dict]:
    """Cell id -> the dry run's estimate for its trials, and ``total`` for all of them."""
    by_cell: dict[str, list[Trial]] = {}
    for trial in trials:
        by_cell.setdefault(trial.cell.id, []).append(trial)
    out = {cell: estimate(config, _report(group)) for cell, group in by_cell.items()}
    out["total"] = estimate(config, _report(trials))
    return out


def dry_run_table(config: LLMConfig, trials: list[Trial]) -> str:
    """The printed table: per cell and in total, trials, expected calls (at most), prompt
    and completion tokens (approximate: the fake counts about four characters a token of
    the messages, tool calls and tool schemas sent),
    cost in USD, and whether the total fits the budget."""
    rows = [f"dry run of the probe for model {config.model} (nothing was called or written)",
            f"{'cell':<38} {'trials':>6} {'calls':>7} {'at most':>7} {'prompt tok':>11} "
            f"{'compl. tok':>10} {'cost USD':>9}"]  # fmt: skip
    found = cell_estimates(config, trials)
    for cell, e in found.items():
        cost = "unknown" if e["cost_usd"] is None else f"{e['cost_usd']:.4f}"
        rows.append(f"{cell:<38} {e['decisions']:>6} {e['calls']:>7} {e['calls_at_most']:>7} "
                    f"{e['prompt_tokens']:>11} {e['completion_tokens']:>10} {cost:>9}")  # fmt: skip
    within = {True: "yes", False: "NO", None: "unknown"}[found["total"]["within_budget"]]
    return "\n".join([*rows, f"within the budget: {within}"])
