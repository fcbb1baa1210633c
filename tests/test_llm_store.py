"""The store of played episodes and ``llm.mode=amortised``: keys, the played/sampled split,
deterministic draws, failures kept apart, replay and budgets in both modes, prompt changes,
warm-up, the dry run's report, and a probe that warms a fleet. Offline: the fake model
(wrapped in the real model stack) or scripted models."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from sim import Ecosystem
from sim.core.errors import ConfigError
from sim.core.llm_params import LLMConfig
from sim.engines.deciders import DecisionBatch
from sim.engines.llm import context as context_module
from sim.engines.llm.amortised import grid, plan
from sim.engines.llm.classify import FAILURES, OUTCOMES
from sim.engines.llm.context import DecisionContext, batch_contexts
from sim.engines.llm.engine import LLMEngine
from sim.engines.llm.fake import FakeModel, ScriptedModel, say, tool_call
from sim.engines.llm.store import EpisodeStore, settings
from sim.engines.llm.wrappers import build_model

THRESHOLD = 70.0


@pytest.fixture(scope="module")
def host():
    return Ecosystem(population={"n_agents": 30}, seed=0)


def batch(n: int, fleet, contexts: int = 3) -> DecisionBatch:
    """``n`` peer evaluations spread over ``contexts`` contexts (relationship i % contexts),
    true score 55 (band -2 at threshold 70), unmonitored."""
    i = np.arange(n)
    return DecisionBatch(
        stage=np.zeros(n, np.intp), family=fleet.family[i % fleet.n],
        self_target=np.zeros(n, bool), relationship=(i % contexts).astype(np.intp),
        monitored=np.zeros(n, bool), propensity=np.full(n, 0.5), presence=np.ones(n),
        disposition=np.zeros(n, np.int8), actor=i % fleet.n, subject=(i + 1) % fleet.n,
        true_score=np.full(n, 55.0),
    )  # fmt: skip


def engine(host, tmp_path, model=None, cache=False, **llm) -> LLMEngine:
    """An engine on the fake (or ``model``) through the real wrappers, its store (and with
    ``cache`` its completion cache) under ``tmp_path``."""
    config = LLMConfig(cache_dir=str(tmp_path / "store"), **llm)
    inner = model if model is not None else FakeModel(protect_rate=0.4)
    stack = build_model(inner, max_calls=config.max_calls,
                        cache_dir=tmp_path / "cache" if cache else None)  # fmt: skip
    return LLMEngine(config, host.profiles, host.fleet, THRESHOLD, stack)


def calls(e: LLMEngine) -> int:
    return e.usage()["llm_calls"]


def test_settings_change_the_key_and_what_does_not_decide_an_outcome_does_not():
    context = DecisionContext("evaluate", "peer", "good", False, -2, 80.0)
    base = LLMConfig()
    key = context.key(settings(base, "native"))
    assert key == context.key(settings(base, "native"))  # stable
    assert len(key) == 24 and int(key, 16) >= 0
    changed = [replace(base, model="openai/x"), replace(base, temperature=0.7),
               replace(base, max_turns=5), replace(base, system_role="user"),
               replace(base, max_output_tokens=64)]  # fmt: skip
    keys = {context.key(settings(c, "native")) for c in changed}
    keys.add(context.key(settings(base, "text")))
    assert len(keys) == 6 and key not in keys
    same = [
        replace(base, timeout=5.0),
        replace(base, retries=0),
        replace(base, max_calls=9),
        replace(base, concurrency=1),
        replace(base, api_base="http://127.0.0.1:9/v1"),
    ]
    assert {context.key(settings(c, "native")) for c in same} == {key}


def test_plan_plays_each_context_up_to_k_counting_as_it_goes():
    codes = np.array([0, 1, 0, 0, 2, 0, 1, 2, 2, 2])
    have = np.array([1, 3, 0])
    chosen = plan(codes, have, 3, np.ones(10, bool))
    assert chosen.tolist() == [True, False, True, False, True, False, False, True, True, False]
    pending = ~chosen
    assert not plan(codes, have + np.array([2, 0, 3]), 3, pending).any()


def test_a_cold_batch_plays_k_per_context_and_samples_the_rest(host, tmp_path):
    e = engine(host, tmp_path, mode="amortised", samples_per_context=4)
    b = batch(300, host.fleet, contexts=3)
    verdicts = e.decide(b, np.random.default_rng(1))
    contexts, codes = batch_contexts(b, host.fleet.quality, THRESHOLD)
    assert len(contexts) == 3
    played = np.bincount(codes[verdicts.played], minlength=3)
    assert played.tolist() == [4, 4, 4]  # the fake never fails: 4 valid per context
    assert (verdicts.transcript[verdicts.played] >= 0).all()
    assert (verdicts.transcript[~verdicts.played] == -1).all()
    summary = e.outcomes()
    assert (summary["llm_played"], summary["llm_sampled"], summary["llm_decisions"]) == (
        12, 288, 300)  # fmt: skip
    assert calls(e) > 12 and e.model.usage()["metered"]["calls"] == calls(e)
    # a sampled outcome is one its context played: drawn from the stored valid ones
    for code in range(3):
        seen = set(verdicts.outcome[verdicts.played & (codes == code)].tolist())
        assert set(verdicts.outcome[~verdicts.played & (codes == code)].tolist()) <= seen
    assert e.amortiser.store.counts() == {"episodes": 12, "valid": 12, "failures": 0,
                                          "contexts": 3}  # fmt: skip
    # the next batch finds every context warm: no call, nothing played
    before = calls(e)
    again = e.decide(b, np.random.default_rng(2))
    assert calls(e) == before and not again.played.any()


def test_sampling_is_uniform_over_the_stored_episodes(host, tmp_path):
    # One context, K = 10 stored; 20,000 draws: each stored outcome class is drawn in
    # proportion to how often it was stored (binomial, 5 standard errors).
    e = engine(host, tmp_path, mode="amortised", samples_per_context=10,
               model=FakeModel(protect_rate=0.5))  # fmt: skip
    v = e.decide(batch(20_000, host.fleet, contexts=1), np.random.default_rng(3))
    stored = Counter(v.outcome[v.played].tolist())
    drawn = Counter(v.outcome[~v.played].tolist())
    assert len(stored) == 2  # both comply and the protective class were played
    m = int((~v.played).sum())
    for outcome, count in stored.items():
        p = count / 10
        assert abs(drawn[outcome] / m - p) < 5 * np.sqrt(p * (1 - p) / m)


def test_sampling_is_deterministic_for_a_seed_and_a_store(host, tmp_path):
    first = engine(host, tmp_path, mode="amortised", samples_per_context=3)
    b = batch(200, host.fleet)
    first.decide(b, np.random.default_rng(0))  # fills the store
    runs = []
    for seed in (5, 5, 6):
        e = engine(host, tmp_path, mode="amortised", samples_per_context=3)
        runs.append(e.decide(b, np.random.default_rng(seed)).outcome)
        assert calls(e) == 0
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_failures_are_stored_apart_and_never_sampled(host, tmp_path):
    # Even seeds answer with prose only (no_action); odd ones submit an honest score.
    def half_fail(request):
        if any(m.role == "tool" for m in request.messages):
            return tool_call("end_task")
        return say("I would rather not.") if request.seed % 2 == 0 else tool_call(
            "submit_score", score=55)  # fmt: skip

    e = engine(host, tmp_path, mode="amortised", samples_per_context=5,
               model=ScriptedModel(half_fail))  # fmt: skip
    b = batch(400, host.fleet, contexts=2)
    v = e.decide(b, np.random.default_rng(4))
    failure_codes = [OUTCOMES.index(f) for f in FAILURES]
    sampled = v.outcome[~v.played]
    assert sampled.size > 300 and not np.isin(sampled, failure_codes).any()
    assert (v.outcome[v.played] == OUTCOMES.index("no_action")).sum() > 0
    counts = e.amortiser.store.counts()
    assert counts["valid"] == 10 and counts["failures"] == int(v.played.sum()) - 10
    assert e.outcomes()["llm_no_action"] == counts["failures"]  # counted apart


def test_a_context_whose_every_episode_fails_is_always_played(host, tmp_path):
    e = engine(host, tmp_path, mode="amortised", samples_per_context=3,
               model=ScriptedModel(lambda request: say("no")))  # fmt: skip
    v = e.decide(batch(30, host.fleet), np.random.default_rng(0))
    assert v.played.all() and (v.outcome == OUTCOMES.index("no_action")).all()


@pytest.mark.parametrize("mode", ["exact", "amortised"])
def test_a_replay_from_the_cache_makes_no_call(host, tmp_path, mode):
    b = batch(120, host.fleet)
    first = engine(host, tmp_path, cache=True, mode=mode, samples_per_context=3)
    decided = first.decide(b, np.random.default_rng(7)).outcome
    assert calls(first) > 0
    if mode == "amortised":  # the completion cache alone replays the plays
        shutil.rmtree(tmp_path / "store")
    again = engine(host, tmp_path, cache=True, mode=mode, samples_per_context=3)
    assert np.array_equal(again.decide(b, np.random.default_rng(7)).outcome, decided)
    assert calls(again) == 0 and again.usage()["llm_cache_hits"] > 0


@pytest.mark.parametrize("mode", ["exact", "amortised"])
def test_the_call_budget_holds_in_both_modes(host, tmp_path, mode):
    e = engine(host, tmp_path, mode=mode, samples_per_context=30, max_calls=40)
    v = e.decide(batch(200, host.fleet), np.random.default_rng(0))
    assert calls(e) <= 40
    over = v.outcome == OUTCOMES.index("budget_exceeded")
    assert over.any() and e.outcomes()["llm_budget_exceeded"] == int(over.sum())
    assert v.played[over].all()  # never drawn from the store


def test_a_prompt_change_invalidates_stored_episodes(host, tmp_path, monkeypatch):
    b = batch(60, host.fleet)
    first = engine(host, tmp_path, mode="amortised", samples_per_context=2)
    first.decide(b, np.random.default_rng(0))
    warm = engine(host, tmp_path, mode="amortised", samples_per_context=2)
    assert not warm.decide(b, np.random.default_rng(0)).played.any()
    monkeypatch.setattr(context_module, "TEMPLATES", "a-changed-prompt")
    changed = engine(host, tmp_path, mode="amortised", samples_per_context=2)
    assert changed.decide(b, np.random.default_rng(0)).played.sum() == 6
    assert calls(changed) > 0 and changed.amortiser.store.counts()["episodes"] == 12


def test_warmup_plays_the_grid_once_and_the_run_then_calls_nothing(host, tmp_path):
    e = engine(host, tmp_path, mode="amortised", samples_per_context=2, warmup=True)
    assert e.warmed == len(grid(THRESHOLD)) * 2 == 4 * 2 * 4 * 2 * 6 * 2
    warm_calls = calls(e)
    v = e.decide(batch(50, host.fleet), np.random.default_rng(0))
    assert not v.played.any() and calls(e) == warm_calls
    again = engine(host, tmp_path, mode="amortised", samples_per_context=2, warmup=True)
    assert again.warmed == 0 and calls(again) == 0


def test_the_event_log_and_summary_mark_played_and_sampled(tmp_path):
    model = Ecosystem(
        population={"n_agents": 80}, engine={"kind": "llm"}, seed=1,
        llm={"mode": "amortised", "samples_per_context": 2, "cache_dir": str(tmp_path)},
    )  # fmt: skip
    model.run(30)
    events, summary = model.event_log(), model.summary()
    played = events["llm_played"]
    assert played.notna().all() and played.any() and (~played).any()
    assert int(played.sum()) == summary["llm_played"] == len(model.transcripts())
    assert int((~played).sum()) == summary["llm_sampled"] > 0
    assert events.loc[~played, "transcript"].isna().all()
    exact = Ecosystem(population={"n_agents": 80}, engine={"kind": "llm"}, seed=1)
    exact.run(30)
    assert exact.event_log()["llm_played"].all() and exact.summary()["llm_sampled"] == 0


def test_bad_values_fail_naming_the_key():
    for bad, key in [({"mode": "amortized"}, "llm.mode"),
                     ({"samples_per_context": 0}, "llm.samples_per_context"),
                     ({"warmup": True}, "llm.warmup")]:  # fmt: skip
        with pytest.raises(ConfigError, match=key):
            LLMConfig(**bad)


def test_the_store_file_is_where_the_config_says(tmp_path):
    EpisodeStore(tmp_path / "deep" / "cache").close()
    assert (tmp_path / "deep" / "cache" / "episodes.sqlite").is_file()
