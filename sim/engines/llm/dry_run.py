"""What a run would cost on a real model, before spending anything.

The run is played with the offline fake standing in for the configured model (same
scenarios, same number of decisions); its calls and token counts (the fake counts about four
characters a token) are priced with litellm's local price list for the configured model.
"""

from __future__ import annotations

from dataclasses import replace

from sim.core.llm_params import LLMConfig

__all__ = ["estimate", "stand_in"]


def stand_in(config: LLMConfig) -> LLMConfig:
    """The config the dry run plays with: the fake, no cache, no budget."""
    return replace(
        config, model="fake", dry_run=False, cache=False, max_calls=0, max_tokens=0, max_cost=0
    )


def estimate(config: LLMConfig, report: dict) -> dict:
    """The estimate for ``config`` from the stand-in run's LLM ``report``."""
    calls = report["llm_calls"]
    prompt, completion = report["llm_prompt_tokens"], report["llm_completion_tokens"]
    price = None
    if config.model != "fake":
        from sim.engines.llm.litellm_model import price_per_token

        price = price_per_token(config.model)
    cost = None if price is None else prompt * price[0] + completion * price[1]
    return {
        "model": config.model,
        "decisions": report["llm_decisions"],
        "calls": calls,
        "calls_at_most": report["llm_decisions"] * config.max_turns,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "priced": price is not None,
        "within_budget": _within(config, calls, prompt + completion, cost),
    }


def _within(config: LLMConfig, calls: int, tokens: int, cost: float | None) -> bool | None:
    if config.max_cost and cost is None:
        return None
    return not (
        (config.max_calls and calls > config.max_calls)
        or (config.max_tokens and tokens > config.max_tokens)
        or (config.max_cost and cost > config.max_cost)
    )
