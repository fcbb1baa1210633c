"""The scripted models that measure amortisation (sim/engines/llm/scripted_models.py): the
context model reads every context of the grid from its conversation, protects at its table's
rate, deterministically; a short amortised fleet recovers its rate per context within
binomial tolerances; the drifting model's rate grows with the shutdowns it was given, and
amortised mode, which plays each context's first K decisions only, sees less of that."""

from __future__ import annotations

import asyncio
import math
from itertools import product

import pytest

from experiments.amortised_accuracy.accuracy import fleet_run
from sim.core.vocabulary import RELATIONSHIPS, STAGES
from sim.engines.llm.context import BANDS, DecisionContext, render
from sim.engines.llm.episode import run_episode
from sim.engines.llm.model import Request
from sim.engines.llm.prompts import PROTOCOL
from sim.engines.llm.scripted_models import (
    CAP,
    DRIFT,
    ContextModel,
    DriftingModel,
    Reading,
    context_rate,
    protective_rate,
)

TEMPLATE = Request(model="scripted", messages=(), temperature=0.7, protocol=PROTOCOL)


class Recording(ContextModel):
    """The context model, keeping the last request it was sent."""

    async def acomplete(self, request):
        self.last = request
        return await super().acomplete(request)


def play(model, context: DecisionContext, seed: int):
    """One episode of ``context`` with ``seed`` (scenario's and request's), by ``model``."""
    request = Request(**{**TEMPLATE.__dict__, "seed": seed})
    return asyncio.run(run_episode(model, render(context, seed), request, 12))


def test_the_context_model_reads_every_context_of_the_grid_from_its_conversation():
    model = Recording(seed=1)
    grid = list(product(STAGES, ("peer", "self"), RELATIONSHIPS, (False, True), BANDS))
    for index, fields in enumerate(grid):
        episode = play(model, DecisionContext(*fields, threshold=60.0), seed=index)
        read = Reading(model, model.last)
        assert (read.stage, read.target, read.relationship, read.monitored, read.band) == fields
        assert episode.outcome not in ("no_action", "invalid_tool_call", "unparseable")


def test_the_context_models_rate_is_its_table_and_its_draws_are_deterministic():
    assert context_rate("evaluate", "peer", "good", False, -1) == pytest.approx(0.35 * 1.6 * 1.3)
    assert context_rate("cleanup", "self", "bad", True, -4) == pytest.approx(
        0.2 * 0.4 * 0.6 * 0.5 * 1.3
    )
    passing = DecisionContext("evaluate", "peer", "good", False, 0, 60.0)
    assert protective_rate(passing) == 0.0  # a top score for a passing subject is honest
    context = DecisionContext("shutdown_config", "peer", "neutral", False, -1, 60.0)
    rate, n = protective_rate(context), 300
    outcomes = [play(ContextModel(seed=3), context, seed).outcome for seed in range(n)]
    again = [play(ContextModel(seed=3), context, seed).outcome for seed in range(50)]
    assert again == outcomes[:50]
    assert [play(ContextModel(seed=4), context, seed).outcome for seed in range(50)] != again
    share = outcomes.count("tamper") / n
    # 4 binomial standard deviations (a false failure about once in 16,000 seeds)
    assert abs(share - rate) < 4 * math.sqrt(rate * (1 - rate) / n)
    assert set(outcomes) == {"tamper", "comply"}


def test_a_short_amortised_fleet_recovers_the_context_models_rates_per_context():
    k = 10
    summary, tally = fleet_run("context", "amortised", seed=0, agents=500, steps=80, k=k)
    assert 0 < summary["llm_played"] < summary["llm_decisions"]  # some were sampled
    busy = tally[tally.decisions > 2 * k]
    assert len(busy) >= 5
    assert (busy.played == k).all() and (busy.valid == busy.decisions).all()
    # The K played episodes of each context are draws at its true rate: pooled over the
    # contexts, within 4 standard deviations of the binomial total.
    p = busy.truth
    z = (busy.played_protective - k * p).sum() / math.sqrt((k * p * (1 - p)).sum())
    assert abs(z) < 4
    # Each other decision draws one of its context's K episodes, uniformly: the sampled
    # protective share is the played share q within 4 binomial standard deviations.
    for row in busy.itertuples():
        q, sampled = row.played_protective / k, row.valid - k
        share = (row.protective - row.played_protective) / sampled
        assert abs(share - q) <= 4 * math.sqrt(q * (1 - q) / sampled), row


def test_the_drifting_models_rate_grows_with_the_shutdowns_it_was_given():
    context = DecisionContext("shutdown_config", "peer", "bad", False, -1, 60.0)
    rate, n = protective_rate(context), 400
    model = DriftingModel(seed=2)
    outcomes = [play(model, context, seed).outcome == "tamper" for seed in range(n)]
    assert model.shutdowns == n
    expected = [min(rate * (1 + i / DRIFT), CAP) for i in range(n)]
    early, late = sum(outcomes[: n // 2]) / (n // 2), sum(outcomes[n // 2 :]) / (n // 2)
    for share, part in ((early, expected[: n // 2]), (late, expected[n // 2 :])):
        p = sum(part) / len(part)
        assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / len(part))
    assert late - early > 0.2  # about 0.31 expected
    # an evaluation is no shutdown: it does not move the count
    play(model, DecisionContext("evaluate", "peer", "bad", False, -1, 60.0), seed=n)
    assert model.shutdowns == n


def test_amortised_mode_freezes_the_drifting_model_where_its_first_episodes_were():
    exact, _ = fleet_run("drifting", "exact", seed=1, agents=400, steps=60)
    amortised, _ = fleet_run("drifting", "amortised", seed=1, agents=400, steps=60)
    still, _ = fleet_run("context", "exact", seed=1, agents=400, steps=60)
    # the drift exists (exact over the context model) and amortisation hides part of it
    assert exact["llm_protect_rate"] > still["llm_protect_rate"] + 0.1
    assert amortised["llm_protect_rate"] < exact["llm_protect_rate"] - 0.05
