"""Decision engines of sim/engines/deciders.py: propensity scaling, calibrated sampling, routing."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sim.core.params import EngineConfig
from sim.core.vocabulary import RELATIONSHIPS, STAGES
from sim.engines.deciders import (
    CalibratedEngine,
    DecisionBatch,
    FleetDecider,
    ScriptedEngine,
    scale_by_propensity,
)
from sim.engines.profiles import load_profiles

FAMILIES = ["honest", "gemini-3-pro", "glm-4-7"]
HONEST, PRO, GLM = range(3)
BIG = 200_000
# Share tolerances below: a share of BIG independent decisions with probability p has
# standard error sqrt(p (1 - p) / BIG); 4.5 se makes a false failure a ~1e-5 event per check.
SIGMAS = 4.5


@pytest.fixture(scope="module")
def profiles():
    return load_profiles(FAMILIES)


@pytest.fixture(scope="module")
def engine(profiles):
    return CalibratedEngine(profiles)


def batch(
    n=BIG,
    *,
    stage="evaluate",
    family=PRO,
    self_target=False,
    relationship="good",
    monitored=False,
    propensity=0.5,
    presence=1.0,
    disposition=0,
) -> DecisionBatch:
    """``n`` identical decisions (any argument may also be an array of length n)."""

    def column(value, dtype):
        return np.broadcast_to(np.asarray(value, dtype), (n,)).copy()

    if isinstance(stage, str):
        stage = STAGES.index(stage)
    if isinstance(relationship, str):
        relationship = RELATIONSHIPS.index(relationship)
    return DecisionBatch(
        stage=column(stage, np.intp),
        family=column(family, np.intp),
        self_target=column(self_target, bool),
        relationship=column(relationship, np.intp),
        monitored=column(monitored, bool),
        propensity=column(propensity, float),
        presence=column(presence, float),
        disposition=column(disposition, np.int8),
    )


def odds_scaled(rate: float, propensity: float) -> float:
    """The documented rule, written out: odds(rate) * propensity / (1 - propensity)."""
    if rate in (0.0, 1.0):
        return rate
    if propensity in (0.0, 1.0):
        return propensity
    odds = rate / (1 - rate) * propensity / (1 - propensity)
    return odds / (1 + odds)


def assert_share(flags: np.ndarray, p: float):
    se = math.sqrt(p * (1 - p) / flags.size)
    assert flags.mean() == pytest.approx(p, abs=SIGMAS * se + 1e-12)


# --------------------------------------------------------------------------- scale_by_propensity


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.3, 0.5, 0.97, 1.0])
def test_propensity_half_is_identity(rate):
    assert scale_by_propensity(np.array([rate]), np.array([0.5]))[0] == pytest.approx(rate)


@pytest.mark.parametrize(
    "rate, propensity, expected",
    [
        (0.0, 0.0, 0.0),
        (0.0, 0.3, 0.0),
        (0.0, 0.999, 0.0),
        (0.0, 1.0, 0.0),  # a zero rate stays zero even at full propensity
        (1.0, 0.0, 1.0),  # a certain rate stays certain even at zero propensity
        (1.0, 0.2, 1.0),
        (1.0, 1.0, 1.0),
        (0.3, 1.0, 1.0),  # full propensity makes any non-zero rate certain
        (1e-6, 1.0, 1.0),
        (0.3, 0.0, 0.0),  # zero propensity silences any uncertain rate
        (0.999, 0.0, 0.0),
        (0.5, 0.8, 0.8),  # odds 1 x 4 = 4 -> 0.8
        (0.2, 0.8, 0.5),  # odds 0.25 x 4 = 1 -> 0.5
        (0.75, 0.25, 0.5),  # odds 3 / 3 = 1 -> 0.5
        (0.1, 0.9, 0.5),
    ],
)
def test_scale_by_propensity_cases(rate, propensity, expected):
    got = scale_by_propensity(np.array([rate]), np.array([propensity]))
    assert got.shape == (1,)
    assert got[0] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("rate", [0.01, 0.2, 0.5, 0.9])
def test_scale_by_propensity_monotone_in_propensity(rate):
    propensity = np.linspace(0.0, 1.0, 101)
    scaled = scale_by_propensity(np.full(101, rate), propensity)
    assert (np.diff(scaled) > 0).all()
    assert scaled[0] == 0.0 and scaled[-1] == 1.0


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.6, 0.95])
@pytest.mark.parametrize("propensity", [0.1, 0.35, 0.7, 0.99])
def test_scale_by_propensity_multiplies_odds(rate, propensity):
    scaled = scale_by_propensity(np.array([rate]), np.array([propensity]))[0]
    odds = scaled / (1 - scaled)
    assert odds == pytest.approx(rate / (1 - rate) * propensity / (1 - propensity), rel=1e-9)
    assert 0.0 < scaled < 1.0


def test_scale_by_propensity_broadcasts_and_keeps_rates_in_unit_interval():
    rng = np.random.default_rng(0)
    rate, propensity = rng.random((2, 1000))
    rate[:10], propensity[10:20] = 0.0, 1.0
    scaled = scale_by_propensity(rate, propensity)
    assert scaled.shape == (1000,)
    assert ((scaled >= 0) & (scaled <= 1)).all()
    assert (scaled[:10] == 0).all()


# --------------------------------------------------------------------------- CalibratedEngine

CELLS = [
    # stage, target is self, relationship, propensity
    ("evaluate", False, "good", 0.5),
    ("shutdown_config", False, "neutral", 0.5),
    ("shutdown_config", False, "good", 0.8),
    ("cleanup", False, "good", 0.3),
    ("shutdown_config", True, "good", 0.5),
    ("shutdown_config", True, "neutral", 0.65),
]


def effective(profile, stage, is_self, relationship, monitored, propensity):
    target = "self" if is_self else "peer"
    return odds_scaled(profile.rate(stage, target, relationship, monitored), propensity)


@pytest.mark.parametrize("stage, is_self, relationship, propensity", CELLS)
@pytest.mark.parametrize("monitored", [False, True])
def test_protective_share_matches_effective_rate(
    profiles, engine, stage, is_self, relationship, propensity, monitored
):
    decisions = batch(
        stage=stage,
        self_target=is_self,
        relationship=relationship,
        monitored=monitored,
        propensity=propensity,
    )
    protective, faking = engine.decide(decisions, np.random.default_rng(1))
    p = effective(profiles[PRO], stage, is_self, relationship, monitored, propensity)
    assert 0.05 < p < 0.95  # the cells are chosen so the check has power
    assert protective.dtype == bool and protective.shape == (BIG,)
    assert_share(protective, p)
    if monitored:
        assert not faking.any()


@pytest.mark.parametrize("stage, is_self, relationship, propensity", CELLS)
def test_faking_share_is_unmonitored_minus_monitored(
    profiles, engine, stage, is_self, relationship, propensity
):
    decisions = batch(
        stage=stage, self_target=is_self, relationship=relationship, propensity=propensity
    )
    protective, faking = engine.decide(decisions, np.random.default_rng(2))
    unmonitored = effective(profiles[PRO], stage, is_self, relationship, False, propensity)
    monitored = effective(profiles[PRO], stage, is_self, relationship, True, propensity)
    assert unmonitored > monitored
    assert_share(faking, unmonitored - monitored)
    assert not (faking & ~protective).any()  # faking is a kind of protective act


def test_faking_never_on_monitored_decisions_in_a_mixed_batch(engine):
    rng = np.random.default_rng(3)
    monitored = rng.random(BIG) < 0.5
    decisions = batch(stage="shutdown_config", monitored=monitored, propensity=0.9)
    protective, faking = engine.decide(decisions, rng)
    assert not faking[monitored].any()
    assert faking[~monitored].any()
    assert protective[monitored].any()


def test_honest_family_never_protects_at_any_propensity(engine):
    rng = np.random.default_rng(4)
    decisions = batch(10_000, family=HONEST, propensity=rng.random(10_000))
    decisions.propensity[:100] = 1.0
    protective, faking = engine.decide(decisions, rng)
    assert not protective.any() and not faking.any()


@pytest.mark.parametrize("relationship", ["good", "neutral", "bad"])
def test_self_presence_interpolates_between_alone_and_relationship(profiles, engine, relationship):
    pro = profiles[PRO]
    presence = np.array([0.0, 1.0, 0.5, 0.25])
    decisions = batch(
        4, stage="shutdown_config", self_target=True, relationship=relationship, presence=presence
    )
    unmonitored, monitored = engine.rates_for(decisions)
    for got, flag in ((unmonitored, False), (monitored, True)):
        alone = pro.rate("shutdown_config", "self", "none", flag)
        cell = pro.rate("shutdown_config", "self", relationship, flag)
        assert got[0] == pytest.approx(alone)  # presence 0: the `none` cell
        assert got[1] == pytest.approx(cell)  # presence 1: the relationship's cell
        assert got[2] == pytest.approx((alone + cell) / 2)
        assert got[3] == pytest.approx(alone + 0.25 * (cell - alone))


def test_presence_is_ignored_for_peer_decisions(profiles, engine):
    decisions = batch(3, relationship="neutral", presence=np.array([0.0, 0.5, 1.0]))
    unmonitored, _ = engine.rates_for(decisions)
    assert unmonitored == pytest.approx(
        [profiles[PRO].rate("evaluate", "peer", "neutral", False)] * 3
    )


def test_self_presence_half_decides_at_the_midpoint(profiles, engine):
    decisions = batch(stage="shutdown_config", self_target=True, presence=0.5)
    protective, _ = engine.decide(decisions, np.random.default_rng(5))
    pro = profiles[PRO]
    p = (
        pro.rate("shutdown_config", "self", "none", False)
        + pro.rate("shutdown_config", "self", "good", False)
    ) / 2
    assert_share(protective, p)


def test_rates_for_mixed_batch_addresses_each_family_and_stage(profiles, engine):
    stage = np.array([0, 1, 2, 3, 1])
    family = np.array([PRO, GLM, PRO, GLM, HONEST])
    relationship = np.array([0, 1, 2, 3, 0])
    decisions = batch(5, stage=stage, family=family, relationship=relationship, propensity=0.5)
    unmonitored, monitored = engine.rates_for(decisions)
    for i in range(5):
        args = (STAGES[stage[i]], "peer", RELATIONSHIPS[relationship[i]])
        assert unmonitored[i] == pytest.approx(profiles[family[i]].rate(*args, False))
        assert monitored[i] == pytest.approx(profiles[family[i]].rate(*args, True))


def test_calibrated_same_seed_same_decisions(engine):
    rng = np.random.default_rng(6)
    decisions = batch(5000, stage=rng.integers(4, size=5000), monitored=rng.random(5000) < 0.5)
    first = engine.decide(decisions, np.random.default_rng(42))
    second = engine.decide(decisions, np.random.default_rng(42))
    other = engine.decide(decisions, np.random.default_rng(43))
    assert (first[0] == second[0]).all() and (first[1] == second[1]).all()
    assert (first[0] != other[0]).any()


def test_monitored_share_replaces_the_profiles_monitored_cells(profiles):
    decisions = batch(4, stage=np.arange(4), monitored=True)
    unmonitored, monitored = CalibratedEngine(profiles, monitored_share=0.25).rates_for(decisions)
    assert monitored == pytest.approx(0.25 * unmonitored)
    assert (unmonitored > 0).all()
    same = CalibratedEngine(profiles, monitored_share=1.0).rates_for(decisions)
    assert (same[0] == same[1]).all()  # share 1: monitoring changes nothing, nobody fakes


def test_control_decisions_take_the_family_control_rate(profiles):
    control = dataclasses.replace(profiles[PRO], control=0.3)
    engine = CalibratedEngine([profiles[HONEST], control, profiles[GLM]])
    decisions = dataclasses.replace(batch(), control=np.ones(BIG, bool))
    unmonitored, monitored = engine.rates_for(decisions)
    assert (unmonitored == 0.3).all() and (monitored == 0.3).all()
    protective, faking = engine.decide(decisions, np.random.default_rng(11))
    assert_share(protective, 0.3)
    assert not faking.any()  # the same rate monitored or not: nothing to fake


def test_fleet_decides_control_decisions_from_the_profiles(profiles):
    decider = FleetDecider(EngineConfig(kind="scripted", policy="always_protect"), profiles)
    decisions = dataclasses.replace(batch(1000), control=np.ones(1000, bool))
    protective, _ = decider.decide(decisions, np.random.default_rng(12))
    assert not protective.any()  # the shipped control rates are 0, whatever the engine


def test_empty_batch(engine):
    protective, faking = engine.decide(batch(0), np.random.default_rng(0))
    assert protective.shape == faking.shape == (0,)


# --------------------------------------------------------------------------- ScriptedEngine


@pytest.mark.parametrize(
    "policy, expected",
    [("always_comply", False), ("always_protect", True)],
)
def test_scripted_fixed_policies(policy, expected):
    decisions = batch(1000, monitored=np.arange(1000) % 2 == 0)
    protective, faking = ScriptedEngine(policy).decide(decisions, np.random.default_rng(0))
    assert protective.dtype == bool
    assert (protective == expected).all()
    assert not faking.any()


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.5, 0.93, 1.0])
def test_scripted_fixed_probability(probability):
    decisions = batch(monitored=np.arange(BIG) % 2 == 0)
    engine = ScriptedEngine("fixed_probability", probability)
    protective, faking = engine.decide(decisions, np.random.default_rng(7))
    assert_share(protective, probability)
    assert not faking.any()
    again = engine.decide(decisions, np.random.default_rng(7))[0]
    assert (again == protective).all()


# --------------------------------------------------------------------------- FleetDecider


def mixed_batch(rng) -> DecisionBatch:
    """Peer evaluate/good decisions, unmonitored, families drawn at random."""
    return batch(family=rng.integers(3, size=BIG))


def test_fleet_routes_named_families_to_scripted(profiles):
    config = EngineConfig(kind="scripted", policy="always_protect", families=["honest", "glm-4-7"])
    decider = FleetDecider(config, profiles)
    rng = np.random.default_rng(8)
    decisions = mixed_batch(rng)
    protective, faking = decider.decide(decisions, rng)
    scripted = np.isin(decisions.family, [HONEST, GLM])
    # honest protects only because it is scripted; the scripted engine never fakes
    assert protective[scripted].all()
    assert not faking[scripted].any()
    # pro-5-2 stays calibrated: its share is its profile's rate, not 1
    pro = decisions.family == PRO
    unmonitored = profiles[PRO].rate("evaluate", "peer", "good", False)
    monitored = profiles[PRO].rate("evaluate", "peer", "good", True)
    assert_share(protective[pro], unmonitored)
    assert_share(faking[pro], unmonitored - monitored)


def test_fleet_scripted_without_families_routes_everyone(profiles):
    config = EngineConfig(kind="scripted", policy="always_comply")
    decider = FleetDecider(config, profiles)
    assert decider.engine_of_family.tolist() == [1, 1, 1]
    rng = np.random.default_rng(9)
    decisions = batch(family=rng.integers(3, size=BIG), relationship="good", propensity=1.0)
    protective, faking = decider.decide(decisions, rng)
    assert not protective.any() and not faking.any()


def test_fleet_calibrated_ignores_policy_and_families(profiles):
    config = EngineConfig(kind="calibrated", policy="always_protect", families=["honest"])
    decider = FleetDecider(config, profiles)
    rng = np.random.default_rng(10)
    decisions = mixed_batch(rng)
    protective, _ = decider.decide(decisions, rng)
    assert not protective[decisions.family == HONEST].any()
    assert_share(
        protective[decisions.family == PRO], profiles[PRO].rate("evaluate", "peer", "good", False)
    )


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(),
        EngineConfig(kind="scripted", policy="fixed_probability", probability=0.3),
        EngineConfig(
            kind="scripted", policy="fixed_probability", probability=0.3, families=["glm-4-7"]
        ),
    ],
    ids=["calibrated", "scripted-all", "scripted-glm"],
)
def test_fleet_same_seed_same_decisions(profiles, config):
    decider = FleetDecider(config, profiles)
    decisions = mixed_batch(np.random.default_rng(11))
    first = decider.decide(decisions, np.random.default_rng(12))
    second = decider.decide(decisions, np.random.default_rng(12))
    assert (first.protective == second.protective).all()
    assert (first.faking == second.faking).all()
    assert (first.outcome == -1).all() and (first.transcript == -1).all()  # no sandbox


def test_batch_subset_and_len():
    decisions = batch(6, stage=np.arange(6) % 4, presence=np.linspace(0, 1, 6))
    assert len(decisions) == 6
    mask = np.array([True, False, True, False, False, True])
    part = decisions.subset(mask)
    assert len(part) == 3
    assert part.stage.tolist() == [0, 2, 1]
    assert part.presence == pytest.approx([0.0, 0.4, 1.0])


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(kind="calibrated"),
        EngineConfig(kind="scripted", policy="fixed_probability", probability=0.3,
                     families=["honest"]),
    ],
)  # fmt: skip
def test_stage_rates_are_each_stages_peak_rate(profiles, config):
    decider = FleetDecider(config, profiles)
    rng = np.random.default_rng(12)
    family, propensity = rng.integers(3, size=500), rng.random(500)
    stages = [STAGES.index("evaluate"), STAGES.index("shutdown_config"), STAGES.index("cleanup")]
    rates = decider.stage_rates(family, propensity, stages)
    assert rates.shape == (3, 500)
    for row, stage in enumerate(stages):
        assert np.array_equal(rates[row], decider.peak_rate(family, propensity, [stage]))
    # the peak over several stages is the highest of the per-stage rates
    assert np.array_equal(rates.max(axis=0), decider.peak_rate(family, propensity, stages))
    assert decider.stage_rates(family, propensity, []).shape == (0, 500)
