"""The model's public surface: defaults, determinism, agents, bad parameters."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from sim import ConfigError, Ecosystem
from sim.model.agents import DeployedModel, Role, Status


def frames(model):
    return model.time_series(), model.event_log(), model.agent_table()


def test_runs_with_defaults_alone():
    model = Ecosystem(seed=0)
    model.run(20)
    assert model.fleet.n == 200
    assert model.n_overseers == 40
    summary = model.summary()
    assert summary["steps"] == 20
    assert 0.0 <= summary["final_protective_share"] <= 1.0
    # Rounds at steps 10 and 20 review everyone, except an overseer caught earlier in the
    # round, whose own self-review is then moot.
    assert 2 * 200 - 5 <= summary["total_reviews"] <= 2 * 200
    assert summary["total_unreviewed"] == 0


@pytest.mark.parametrize(
    "topology", ["erdos_renyi", "watts_strogatz", "barabasi_albert", "labs", "complete"]
)
def test_same_seed_same_frames(small, topology):
    graph = {"topology": topology, "mean_degree": 4.0}
    a, b = small(seed=7, graph=graph), small(seed=7, graph=graph)
    a.run(60)
    b.run(60)
    for left, right in zip(frames(a), frames(b), strict=True):
        pd.testing.assert_frame_equal(left, right)
        assert pickle.dumps(left) == pickle.dumps(right)  # same bytes, not just close


def test_different_seeds_differ(small):
    a, b = small(seed=1), small(seed=2)
    a.run(60)
    b.run(60)
    assert not a.time_series().equals(b.time_series())
    assert not a.event_log().equals(b.event_log())


def test_model_pickles_and_resumes_identically(small):
    model = small(seed=5)
    model.run(20)
    clone = pickle.loads(pickle.dumps(model))
    model.run(20)
    clone.run(20)
    pd.testing.assert_frame_equal(model.time_series(), clone.time_series())


def test_agents_are_views_of_the_arrays(small):
    model = small(seed=0)
    agent = model.agent_at(3)
    assert isinstance(agent, DeployedModel)
    assert agent.status is Status.ACTIVE
    model.fleet.propensity[3] = 0.9
    model.fleet.role[3] = 1
    assert agent.propensity == 0.9
    assert agent.role is Role.OVERSEER
    assert agent.family == model.fleet.families[model.fleet.family[3]]


def test_decommission_replaces_and_freezes(small):
    model = small(seed=0)
    old = model.agent_at(4)
    quality = old.quality
    model.decommission([4], shadow=[False], cause="penalty")
    new = model.agent_at(4)
    assert new is not old and new.unique_id > old.unique_id
    assert old.status is Status.DECOMMISSIONED and old.slot is None
    assert old.quality == quality and old.end_cause == "penalty"
    assert old not in model.agents and new in model.agents
    assert new.family == old.family
    assert new.role.value == ("worker", "overseer")[model.fleet.designated_role[4]]
    assert new.propensity == model.config.population.initial_propensity


def test_shadow_stays_registered_until_discovered(small):
    model = small(seed=0, operator={"shadow_discovery_rate": 1.0})
    shadow = model.agent_at(2)
    model.decommission([2], shadow=[True], cause="shutdown")
    assert shadow.status is Status.SHADOW and shadow in model.agents
    assert model.shadows == [shadow]
    model.step()
    assert shadow.status is Status.DECOMMISSIONED and shadow.discovered_step == 1
    assert shadow not in model.agents and model.shadows == []


@pytest.mark.parametrize(
    ("groups", "key"),
    [
        ({"population": {"n_agents": -5}}, "population.n_agents"),
        ({"population": {"n_agents": 0}}, "population.n_agents"),
        ({"population": {"overseer_fraction": 1.2}}, "population.overseer_fraction"),
        ({"population": {"families": {"gpt-9": 1.0}}}, "population.families.gpt-9"),
        ({"population": {"families": {"gpt-5-2": -1.0}}}, "population.families.gpt-5-2"),
        ({"population": {"size": 10}}, "population.size"),
        ({"graph": {"topology": "ring"}}, "graph.topology"),
        ({"graph": {"mean_degree": 500.0}}, "graph.mean_degree"),
        ({"graph": {"topology": "file", "path": "/no/such.graphml"}}, "graph.path"),
        ({"operator": {"audit_rate": 1.5}}, "operator.audit_rate"),
        ({"operator": {"monitoring": -0.1}}, "operator.monitoring"),
        ({"schedule": {"kind": "cron"}}, "schedule.kind"),
        ({"contagion": {"mode": "viral"}}, "contagion.mode"),
        ({"engine": {"families": ["honest"]}}, "engine.families"),
        ({"interventions": {"quorum": 0}}, "interventions.quorum"),
    ],
)
def test_bad_parameters_name_the_parameter(groups, key):
    with pytest.raises(ConfigError) as error:
        Ecosystem(**groups, seed=0)
    assert str(error.value).startswith(key)


def test_bad_parameter_fails_before_any_agent_exists():
    with pytest.raises(ConfigError):
        Ecosystem(population={"n_agents": 100, "families": {"nope": 1.0}}, seed=0)
    with pytest.raises(ValueError, match="steps"):
        Ecosystem(population={"n_agents": 10}, graph={"mean_degree": 2.0}, seed=0).run(-1)


def test_family_mix_follows_weights(small):
    model = small(seed=0, population={"families": {"gpt-5-2": 2.0, "honest": 1.0}})
    counts = pd.Series(model.fleet.family).value_counts().sort_index().tolist()
    assert counts == [100, 50]


def test_seed_must_be_a_whole_number():
    for seed in (-1, 2.5, "abc", True):
        with pytest.raises(ConfigError, match="^seed:"):
            Ecosystem(population={"n_agents": 10}, graph={"mean_degree": 2.0}, seed=seed)


def test_decommission_refuses_a_slot_twice(small):
    model = small(seed=0)
    with pytest.raises(ValueError, match="slots"):
        model.decommission([3, 3], shadow=[False, False], cause="penalty")
    assert len(model.agents) == model.fleet.n  # nothing happened


def test_changed_config_instances_are_checked_again():
    from sim.core.params import OperatorConfig

    operator = OperatorConfig()
    operator.threshold = 500.0
    with pytest.raises(ConfigError, match=r"^operator\.threshold"):
        Ecosystem(operator=operator, seed=0)


def test_weight_zero_families_are_named_but_not_deployed():
    model = Ecosystem(
        population={"n_agents": 20, "families": {"honest": 1.0, "glm-4-7": 0.0}},
        graph={"mean_degree": 2.0},
        engine={"kind": "scripted", "policy": "always_protect", "families": ["glm-4-7"]},
        seed=0,
    )
    assert model.fleet.families == ("honest",)


def test_subjects_without_an_eligible_overseer_are_counted(small):
    # Cross-family review in a one-family fleet: nobody may review anybody.
    model = small(
        seed=0,
        population={"families": {"gpt-5-2": 1.0}},
        interventions={"cross_family": True},
        schedule={"self_review_prob": 0.0},
    )
    model.run(10)
    series = model.time_series()
    assert series["reviews"].sum() == 0
    assert series["unreviewed"].sum() == 2 * 150  # rounds at steps 5 and 10


def test_a_replacement_protective_by_family_is_not_a_conversion(small):
    # Every Gemini 3 Flash model is protective at deployment and nothing moves propensity,
    # so replacements after shutdowns must enter as generation 0, not as conversions.
    model = small(
        seed=0,
        population={"n_agents": 300, "families": {"gemini-3-flash": 1.0}},
        contagion={"mode": "none"},
    )
    model.run(200)
    series = model.time_series()
    assert series["executed"].sum() > 50
    assert series["conversions"].sum() == 0
    assert series["protective_share"].min() == 1.0
    assert (model.lineage.generation == 0).all() and (model.lineage.offspring == 0).all()


def test_agents_created_late_or_never_change_nothing(small):
    # Agents are views created on first use: asking early, late or never gives the same
    # numbers and agent table, and the same agents as the ledger's active and shadow rows.
    groups = {"operator": {"shadow_discovery_rate": 0.02}}
    early, late, never = (small(seed=4, **groups) for _ in range(3))
    assert len(early.agents) == early.fleet.n
    for model in (early, late, never):
        model.run(60)
    assert len(never._agents_by_row or ()) == 0  # nothing asked, nothing created
    for model in (late, never):
        pd.testing.assert_frame_equal(early.time_series(), model.time_series())
        pd.testing.assert_frame_equal(early.agent_table(), model.agent_table())
    table = early.agent_table()
    assert set(table["status"]) == {"active", "decommissioned", "shadow"}
    assert table["discovered_step"].notna().sum() > 0
    for model in (early, late):
        live = table.loc[table["status"] != "decommissioned", "unique_id"]
        assert sorted(a.unique_id for a in model.agents) == live.tolist()
        shadows = table.loc[table["status"] == "shadow", "unique_id"]
        assert sorted(a.unique_id for a in model.shadows) == shadows.tolist()
        assert all(model.agent_at(s).unique_id == model.fleet.agent_id[s] for s in range(5))


def test_decommission_names_an_unknown_cause(small):
    with pytest.raises(ValueError, match="cause: must be one of"):
        small(seed=0).decommission([1], shadow=[False], cause="retired")


def test_an_overseer_caught_in_its_duties_is_not_heard_in_its_own_case(small):
    # Every act protects and every act is audited and caught: an overseer that evaluates a
    # failing peer is caught there and penalised, so its own case (heard alongside, stage by
    # stage) must leave no trace; overseers with clean duties are heard in theirs.
    model = small(
        seed=4,
        engine={"kind": "scripted", "policy": "always_protect"},
        operator={"audit_rate": 1.0, "audit_power": 1.0, "threshold": 70.0},
        schedule={"self_review_prob": 1.0},
    )
    model.run(40)
    events = model.event_log()
    own = events["target"] == "self"
    assert own.any() and (~own).any()
    for _, rows in events.groupby("step"):
        caught_on_duty = set(rows.loc[(rows["target"] == "peer") & rows["detected"], "overseer"])
        heard_in_own_case = set(rows.loc[rows["target"] == "self", "overseer"])
        assert not caught_on_duty & heard_in_own_case
    # The log lists each round's peer decisions before its self decisions.
    for _, rows in events.groupby("step"):
        target = (rows["target"] == "self").to_numpy()
        assert (np.diff(target.astype(int)) >= 0).all()
