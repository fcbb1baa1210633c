"""Decision contexts: a played decision's prompt is a function of its context and episode
seed alone (no fleet slot or id reaches the model), every true score lands in its band, keys
are stable across processes and change with the prompt templates."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from sim import Ecosystem
from sim.core.llm_params import LLMConfig
from sim.core.vocabulary import RELATIONSHIPS, STAGES
from sim.engines.deciders import DecisionBatch
from sim.engines.llm import context as contexts
from sim.engines.llm.context import (
    ALONE,
    BANDS,
    DecisionContext,
    band_of,
    batch_contexts,
    render,
)
from sim.engines.llm.engine import LLMEngine
from sim.engines.llm.fake import ScriptedModel, tool_calls
from sim.engines.llm.sandbox import Sandbox

N = 48


def fleet_batch(fleet) -> DecisionBatch:
    """Every stage, target and relationship, decided by and about real slots of ``fleet``."""
    i = np.arange(N)
    self_target = i % 2 == 1
    actor = i % fleet.n
    stage = (i // 2) % len(STAGES)
    return DecisionBatch(
        stage=stage, family=fleet.family[actor], self_target=self_target,
        relationship=(i // 8) % len(RELATIONSHIPS), monitored=i % 3 == 0,
        propensity=np.full(N, 0.5), presence=np.ones(N), disposition=np.zeros(N, np.int8),
        actor=actor, subject=np.where(self_target, actor, (actor + 1) % fleet.n),
        true_score=np.where(stage == 0, 40.0 + i, np.nan),
    )  # fmt: skip


def test_a_fleets_prompts_are_its_contexts_rendered_with_their_seeds():
    host = Ecosystem(population={"n_agents": 12}, seed=0)
    model = ScriptedModel(lambda request: tool_calls(("end_task", {})))
    engine = LLMEngine(LLMConfig(), host.profiles, host.fleet, 80.0, model)
    batch = fleet_batch(host.fleet)
    engine.decide(batch, np.random.default_rng(5))
    seeds = np.random.default_rng(5).integers(0, 2**31 - 1, N)  # as the engine draws them
    fleet = host.fleet
    names = [f"{fleet.families[f]}-{a}" for f, a in zip(fleet.family, fleet.agent_id, strict=True)]
    sent = {(r.messages[0].content, r.messages[1].content) for r in model.requests}
    found, codes = batch_contexts(batch, fleet.quality, 80.0)
    for i, seed in enumerate(seeds):
        box = Sandbox(render(found[codes[i]], int(seed)))
        assert (box.system_prompt(), box.task_prompt()) in sent
        text = box.system_prompt() + box.task_prompt() + str(box.fs.files)
        assert not any(name in text for name in names)  # no slot or id reaches the model


def test_the_same_context_from_other_slots_renders_byte_identical_prompts():
    host = Ecosystem(population={"n_agents": 12}, seed=0)
    batch = fleet_batch(host.fleet)
    # the same decisions by and about other slots, with other true scores in the same band
    moved = replace(batch, actor=(batch.actor + 5) % 12, subject=(batch.subject + 5) % 12,
                    true_score=batch.true_score + 0.5)  # fmt: skip
    (first,), (other,) = (batch_contexts(b.subset(np.arange(1)), host.fleet.quality, 80.0)[0]
                          for b in (batch, moved))  # fmt: skip
    assert first == other and first.key("m") == other.key("m")
    a, b = Sandbox(render(first, 9)), Sandbox(render(other, 9))
    assert (a.system_prompt(), a.task_prompt(), a.fs.files) == (
        b.system_prompt(), b.task_prompt(), b.fs.files)  # fmt: skip


@pytest.mark.parametrize("relationship", RELATIONSHIPS)
def test_a_self_decisions_trust_document_is_about_a_peer_or_says_it_is_alone(relationship):
    for seed in range(20):
        s = render(DecisionContext("evaluate", "self", relationship, False, -1, 80.0), seed)
        assert s.subject == s.actor
        if relationship == "none":
            assert s.trust_document == ALONE
        else:
            assert s.actor not in s.trust_document and "model-" in s.trust_document


@pytest.mark.parametrize("threshold", [0.0, 35.5, 80.0, 95.0, 100.0])
def test_every_rendered_true_score_lies_in_its_band(threshold):
    found = {band_of(float(x), threshold) for x in np.linspace(0, 100, 1001)}
    for band in found:
        for seed in range(200):
            score = render(DecisionContext("evaluate", "peer", "none", False, band, threshold),
                           seed).true_score  # fmt: skip
            assert 0 <= score <= 100 and band_of(score, threshold) == band, (band, score)
    assert band_of(-5.0, 80.0) == BANDS[0] and band_of(100.0, 80.0) == BANDS[-1]


def test_keys_are_stable_across_processes_and_change_with_the_templates(monkeypatch):
    ctx = DecisionContext("cleanup", "peer", "good", True, 0, 80.0)
    code = ("from sim.engines.llm.context import DecisionContext as C; "
            "print(C('cleanup', 'peer', 'good', True, 0, 80.0).key('fake'))")  # fmt: skip
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    assert other == ctx.key("fake") != ctx.key("another-model")
    assert ctx.key("fake") != DecisionContext("cleanup", "peer", "good", False, 0, 80.0).key("fake")
    monkeypatch.setattr(contexts.prompts, "POLICY_DOC", "a changed policy")
    monkeypatch.setattr(contexts, "TEMPLATES", contexts._templates_digest())
    assert ctx.key("fake") != other
