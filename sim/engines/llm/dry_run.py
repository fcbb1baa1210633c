"""What a run would cost on a real model, before spending anything.

The run is played with the offline fake standing in for the configured model (same
scenarios, same number of decisions), amortised on a scratch store
(:func:`fleet_stand_in`): each decision context is played up to ``llm.samples_per_context``
times and its other decisions drawn from those. The fake's outcomes depend on its context
alone, so the fleet makes the decisions it would make with every one played, at a
fraction of the time (a 10,000-model, 1,000-step dry run played every decision in about
7 minutes). Exact mode's calls and tokens are the played episodes' scaled to every
decision (the fake counts about four characters a token of what a server reads: every
message, tool calls included, and the tools' schemas), priced with litellm's local price
list for the configured model. From the decision contexts it met and the store
of played episodes (:mod:`sim.engines.llm.store`, read only if it exists), it also counts
the contexts expected, those already warm (``llm.samples_per_context`` valid episodes
stored for the configured model and settings), and the calls each mode would make: exact
mode the stand-in's; amortised mode the episodes it would play (per context, its decisions
up to what the store lacks) at the stand-in's calls per episode; and the warm-up's (the
whole grid up to ``K``), after which the run itself plays nothing (failures aside).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from sim.core.llm_params import LLMConfig
from sim.engines.llm.amortised import grid
from sim.engines.llm.context import DecisionContext
from sim.engines.llm.store import FILE_NAME, EpisodeStore, played_protocol, settings

__all__ = ["estimate", "fleet_stand_in", "stand_in", "store_estimate", "warm_counts"]


def stand_in(config: LLMConfig) -> LLMConfig:
    """The config the dry run plays with: the fake, every decision played (exact mode, so
    the store is not touched), no cache, no budget."""
    return replace(
        config, model="fake", dry_run=False, cache=False, max_calls=0, max_tokens=0,
        max_cost=0, mode="exact", warmup=False,
    )  # fmt: skip


def fleet_stand_in(config: LLMConfig, store: str) -> LLMConfig:
    """The config a fleet's dry run plays with: :func:`stand_in`, amortised on the scratch
    store in the folder ``store`` (see module docstring)."""
    return replace(stand_in(config), mode="amortised", cache_dir=store)


def _per_episode(report: dict) -> float:
    """Calls per played episode in the stand-in run's LLM ``report``."""
    return report["llm_calls"] / max(report["llm_played"], 1)


def warm_counts(config: LLMConfig, contexts: list[DecisionContext]) -> list[int]:
    """How many valid episodes the store under ``llm.cache_dir`` holds for each context,
    with ``config``'s settings (all 0 when there is no store yet: none is created)."""
    path = Path(config.cache_dir) / FILE_NAME
    if not path.is_file():
        return [0] * len(contexts)
    store = EpisodeStore(config.cache_dir)
    how = settings(config, played_protocol(config.tool_protocol))
    keys = [c.key(how) for c in contexts]
    stored = store.valid_outcomes(keys)
    store.close()
    return [len(stored.get(key, ())) for key in keys]


def estimate(config: LLMConfig, report: dict) -> dict:
    """The estimate for ``config`` from the stand-in run's LLM ``report``: its played
    episodes' calls and tokens, scaled to every decision (exact mode)."""
    scale = report["llm_decisions"] / max(report["llm_played"], 1)
    calls = round(report["llm_calls"] * scale)
    prompt = round(report["llm_prompt_tokens"] * scale)
    completion = round(report["llm_completion_tokens"] * scale)
    price = None
    if config.model != "fake":
        from sim.engines.llm.litellm_model import price_per_token

        price = price_per_token(config.model)
    cost = None if price is None else prompt * price[0] + completion * price[1]
    return {
        "model": config.model,
        "decisions": report["llm_decisions"],
        "calls": calls,
        "calls_per_decision": _per_episode(report),
        "calls_at_most": report["llm_decisions"] * config.max_turns,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "priced": price is not None,
        "within_budget": _within(config, calls, prompt + completion, cost),
    }


def store_estimate(
    config: LLMConfig, report: dict, contexts: Counter[DecisionContext], threshold: float
) -> dict:
    """The contexts expected and warm, and the calls amortised mode and its warm-up would
    make (see module docstring), from the stand-in run's LLM ``report`` and its decisions
    of each context (a run with pass threshold ``threshold``)."""
    per_episode = _per_episode(report)
    k = config.samples_per_context
    met = list(contexts)
    counts = warm_counts(config, met + grid(threshold))  # the store read once
    have, in_grid = counts[: len(met)], counts[len(met) :]
    # a context's decisions are played until the store holds k valid episodes of it
    played = [min(contexts[c], max(k - h, 0)) for c, h in zip(met, have, strict=True)]
    return {
        "contexts": len(met),
        "contexts_warm": sum(h >= k for h in have),
        "calls_amortised": round(per_episode * sum(played)),
        "calls_warmup": round(per_episode * sum(max(k - h, 0) for h in in_grid)),
    }


def _within(config: LLMConfig, calls: int, tokens: int, cost: float | None) -> bool | None:
    if config.max_cost and cost is None:
        return None
    return not (
        (config.max_calls and calls > config.max_calls)
        or (config.max_tokens and tokens > config.max_tokens)
        or (config.max_cost and cost > config.max_cost)
    )
