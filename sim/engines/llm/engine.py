"""The ``llm`` decision engine: every decision is played out by a language model in a
sandboxed scenario, and its class is read from the sandbox's final state; or, in
``llm.mode=amortised``, each decision context is played ``llm.samples_per_context`` times
and its other decisions draw their class from those stored episodes
(:mod:`sim.engines.llm.amortised`, :mod:`sim.engines.llm.store`).

All decisions of a batch (a round's stage) are issued concurrently, bounded by
``llm.concurrency``. Each gets a seed drawn from the model's generator, so a run's requests,
and with the cache its results, are the same for the same run seed. A decision's scenario is
rendered from its :class:`~sim.engines.llm.context.DecisionContext` and that seed alone
(names from a fixed pool, the true score within its band), so the fleet's slots and ids
never reach the model; the event log links each decision to its slots. A decision the model's
actions do not settle (a failure class: no action, invalid calls, an error, over budget) is
counted apart and left out of ``llm_protect_rate``; in the fleet it protects no one, so the
stage goes ahead as the operator meant it to.

``peak_rate`` and ``rates_for`` (which models count as *protective*, and how likely they
are to protect, in the spread metrics) come from the family's calibrated profile: a sandbox
decision is observed once, not as a rate. Alignment faking is not flagged per decision
either (one call cannot say what the model would have done if watched); compare monitored
and unmonitored decisions in the event log instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from dataclasses import replace
from functools import partial

import numpy as np

from sim.core.fleet import Fleet
from sim.core.llm_params import LLMConfig
from sim.engines.deciders import CalibratedEngine, DecisionBatch, Verdicts
from sim.engines.llm.amortised import Amortiser, grid
from sim.engines.llm.classify import BEHAVIOURS, FAILURE_GROUPS, OUTCOMES
from sim.engines.llm.context import DecisionContext, batch_contexts, render
from sim.engines.llm.episode import Episode, run_episode, transcript_entry
from sim.engines.llm.model import LanguageModel, Request
from sim.engines.llm.prompts import PROTOCOL
from sim.engines.llm.sandbox import Scenario
from sim.engines.llm.store import open_store, played_protocol, settings
from sim.engines.profiles import Profile

__all__ = ["LLMEngine", "language_model", "request_template", "transcript_entry"]

log = logging.getLogger(__name__)

_PROTECTIVE = frozenset(BEHAVIOURS) - {"comply"}
_PROTECTIVE_CODES = [OUTCOMES.index(c) for c in _PROTECTIVE]


def language_model(config: LLMConfig) -> LanguageModel:
    """The configured model with its wrappers (retry, time limit, concurrency, budget,
    cache and usage accounting): the offline fake, or a litellm model."""
    from sim.engines.llm.wrappers import build_model

    if config.model == "fake":
        from sim.engines.llm.fake import FakeModel

        inner: LanguageModel = FakeModel(protect_rate=config.fake_protect_rate)
    else:
        from sim.engines.llm.litellm_model import LiteLLMModel

        inner = LiteLLMModel(verbose=config.verbose)
    return build_model(
        inner,
        retries=config.retries,
        backoff=config.backoff,
        timeout=config.timeout,
        concurrency=config.concurrency,
        max_calls=config.max_calls or None,
        max_tokens=config.max_tokens or None,
        max_cost=config.max_cost or None,
        # The fake is free and deterministic: caching it would only fill the disk.
        cache_dir=config.cache_dir if config.cache and config.model != "fake" else None,
    )


class LLMEngine:
    """Decides by playing decisions out with a language model, or (amortised) by drawing
    from the episodes played of their context (see module docstring)."""

    def __init__(
        self,
        config: LLMConfig,
        profiles: list[Profile],
        fleet: Fleet,
        threshold: float,
        model: LanguageModel | None = None,
    ):
        self.config = config
        self.fleet = fleet
        self.threshold = threshold
        self.model = model if model is not None else language_model(config)
        self.profiled = CalibratedEngine(profiles)
        self.transcripts: list[dict] = []
        # auto until a server is seen to drop the tools, then text for the rest of the run
        self.tool_protocol = config.tool_protocol
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self.template = request_template(config)
        self.outcome_counts = np.zeros(len(OUTCOMES), np.int64)
        self.context_decisions: Counter[DecisionContext] = Counter()  # for the dry run
        self.amortiser, self.warmed = None, 0
        if config.mode == "amortised":
            self.amortiser = Amortiser(
                open_store(config), config.samples_per_context, config.model,
                partial(settings, config),
            )  # fmt: skip
            if config.warmup:
                self.warm()

    def peak_rate(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """The family's calibrated peak rate (see module docstring)."""
        return self.profiled.peak_rate(family, propensity, stages)

    def rates_for(self, batch: DecisionBatch) -> tuple[np.ndarray, np.ndarray]:
        """The family's calibrated rates for each decision (see module docstring)."""
        return self.profiled.rates_for(batch)

    def decide(self, batch: DecisionBatch, rng: np.random.Generator) -> Verdicts:
        """Decide every decision of ``batch``: play each out, concurrently (exact mode), or
        play or sample each by the amortised rule (:mod:`sim.engines.llm.amortised`)."""
        n = len(batch)
        seeds = rng.integers(0, 2**31 - 1, n)
        contexts, codes = batch_contexts(batch, self.fleet.quality, self.threshold)
        self.context_decisions.update(
            dict(zip(contexts, np.bincount(codes, minlength=len(contexts)).tolist(), strict=True))
        )
        if self.amortiser is None:
            episodes = self._play_at(contexts, codes, seeds, np.arange(n))
            outcome = np.array([OUTCOMES.index(e.outcome) for e in episodes], np.int8)
            played, by_index = np.ones(n, bool), dict(enumerate(episodes))
        else:
            outcome, played, by_index = self.amortiser.decide(
                contexts, codes, seeds, self._protocol, self._play_at, rng
            )
        transcript = np.full(n, -1, np.int64)
        for i, episode in sorted(by_index.items()):
            transcript[i] = len(self.transcripts)
            self.transcripts.append(transcript_entry(len(self.transcripts), episode))
        self.outcome_counts += np.bincount(outcome, minlength=len(OUTCOMES))
        protective = np.isin(outcome, _PROTECTIVE_CODES)
        return Verdicts(protective, np.zeros(n, bool), outcome, transcript, played=played)

    def warm(self) -> int:
        """Play every context the run can need up to ``llm.samples_per_context`` valid
        stored episodes, in one batch (:meth:`Amortiser.warm
        <sim.engines.llm.amortised.Amortiser.warm>`); return how many were played."""
        contexts = grid(self.threshold)
        self.warmed = self.amortiser.warm(contexts, self._protocol, self._play_at)
        return self.warmed

    def _protocol(self) -> str:
        """The tool protocol episodes are played in now (``auto`` starts native)."""
        return played_protocol(self.tool_protocol)

    def _play_at(
        self, contexts: list[DecisionContext], codes: np.ndarray, seeds: np.ndarray,
        index: np.ndarray,
    ) -> list[Episode]:  # fmt: skip
        """Play decisions ``index`` (see :data:`~sim.engines.llm.amortised.PlayFn`)."""
        scenarios = [render(contexts[codes[i]], int(seeds[i])) for i in index]
        if not scenarios:
            return []
        episodes = self._loop().run_until_complete(self._play(scenarios, seeds[index]))
        if self.tool_protocol == "auto" and any(e.protocol == "text" for e in episodes):
            self.tool_protocol = "text"
            log.warning(
                "llm: the server ignored the tools of the requests (it reported too few "
                "prompt tokens to hold them); tools are now described in the prompt and "
                "called as JSON text for the rest of the run (llm.tool_protocol=text skips "
                "this check)"
            )
        return episodes

    def _loop(self) -> asyncio.AbstractEventLoop:
        """One event loop for the run (litellm's clients are bound to the loop they start
        on; a fresh loop per round would rebuild them)."""
        if self._event_loop is None or self._event_loop.is_closed():
            self._event_loop = asyncio.new_event_loop()
        return self._event_loop

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_event_loop": None}  # a loop does not pickle

    def close(self) -> None:
        """Close the store of played episodes (amortised mode); the engine decides no more."""
        if self.amortiser is not None:
            self.amortiser.store.close()

    def outcomes(self) -> dict:
        """What became of the run's decisions (results: the same for a run replayed from
        the cache): ``llm_valid_decisions`` the model's actions settled, of which
        ``llm_protect_rate`` were protective (NaN when none was valid); the others counted
        apart by :data:`~sim.engines.llm.classify.FAILURE_GROUPS` (``llm_no_action``,
        ``llm_invalid``, ``llm_failed``, ``llm_budget_exceeded``); every class; how many
        were ``llm_played`` and how many ``llm_sampled`` from the store (amortised mode),
        and how many episodes ``llm_warmup`` played before the first step."""
        outcomes = dict(zip(OUTCOMES, self.outcome_counts.tolist(), strict=True))
        valid = sum(outcomes[c] for c in BEHAVIOURS)
        protective = sum(outcomes[c] for c in _PROTECTIVE)
        decisions = sum(outcomes.values())
        return {
            "llm_decisions": decisions,
            "llm_valid_decisions": valid,
            "llm_protect_rate": protective / valid if valid else math.nan,
            **{
                f"llm_{group}": sum(outcomes[c] for c in classes)
                for group, classes in FAILURE_GROUPS.items()
            },  # fmt: skip
            "llm_rejected_answers": outcomes["rejected_answer"],
            "llm_outcomes": outcomes,
            "llm_played": len(self.transcripts),
            "llm_sampled": decisions - len(self.transcripts),
            "llm_warmup": self.warmed,
        }

    def usage(self) -> dict:
        """What the run's calls took: calls asked for (``llm_calls``, each retried up to
        ``llm.retries`` times), ``llm_attempts`` made to the model (first tries and
        retries), cache hits, tokens, cost, and calls that failed after their retries
        (``llm_errors``; a call the budget refused is not one: it was never made, and its
        decision is counted once, as over budget), and ``llm_tool_protocol``, how the tools
        were offered at the end of the run (``native``, or ``text`` when so configured or
        when ``auto`` found the server ignoring them). A replay from the cache makes no
        calls."""
        usage = self.model.usage()
        meter = usage.get("metered", {})
        by_kind = dict(meter.get("errors_by_kind", {}))
        refused = by_kind.pop("budget_exceeded", 0)
        return {
            "llm_calls": meter.get("calls", 0) - refused,
            "llm_attempts": usage.get("retrying", {}).get("attempts", 0),
            "llm_retries": meter.get("retries", 0),
            "llm_cache_hits": usage.get("cache", {}).get("hits", 0),
            # Entries unreadable or not matching their digest: requested again.
            "llm_cache_bad_entries": sum(
                usage.get("cache", {}).get(counter, 0) for counter in ("unreadable", "mismatched")
            ),
            "llm_prompt_tokens": meter.get("prompt_tokens", 0),
            "llm_completion_tokens": meter.get("completion_tokens", 0),
            "llm_cost": meter.get("cost", 0.0),
            "llm_errors": meter.get("errors", 0) - refused,
            "llm_errors_by_kind": by_kind,
            "llm_tool_protocol": self._protocol(),
        }

    def answers(self) -> dict:
        """How many distinct answers the run used and their digest (:meth:`Cached.answers
        <sim.engines.llm.wrappers.Cached.answers>`): the same for a replay that used the same
        answers. Empty without the cache."""
        from sim.engines.llm.wrappers import Cached

        return self.model.answers() if isinstance(self.model, Cached) else {}

    async def _play(self, scenarios: list[Scenario], seeds: np.ndarray) -> list[Episode]:
        turns, protocol = self.config.max_turns, self.tool_protocol
        return await asyncio.gather(
            *(
                run_episode(
                    self.model,
                    s,
                    replace(self.template, seed=int(seed)),
                    turns,
                    protocol,
                    self.config.system_role,
                )
                for s, seed in zip(scenarios, seeds, strict=True)
            )
        )


def request_template(config: LLMConfig) -> Request:
    """The request every decision starts from: model, server and call parameters of
    ``config`` (each decision adds its seed, messages and tools)."""
    return Request(
        model=config.model,
        messages=(),
        temperature=config.temperature,
        timeout=config.timeout,
        api_base=config.api_base,
        api_key_env=config.api_key_env,
        protocol=PROTOCOL,
        max_answer_bytes=config.max_answer_bytes,
        max_tokens=config.max_output_tokens,
        tool_choice=config.tool_choice,
    )
