"""Parameter groups of sim/core/params.py: defaults, coercion, type checks and range checks."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.core.errors import ConfigError
from sim.core.params import (
    ContagionConfig,
    EcosystemConfig,
    EngineConfig,
    GraphConfig,
    InterventionConfig,
    OperatorConfig,
    PipelineConfig,
    PopulationConfig,
    ScheduleConfig,
)
from sim.core.schema import coerce_config
from sim.core.vocabulary import BEHAVIOURS, STUDY_FAMILIES

GROUPS = {
    "population": PopulationConfig,
    "graph": GraphConfig,
    "schedule": ScheduleConfig,
    "pipeline": PipelineConfig,
    "operator": OperatorConfig,
    "interventions": InterventionConfig,
    "contagion": ContagionConfig,
    "engine": EngineConfig,
}


def raises_key(key: str):
    """ConfigError whose message starts with ``key:`` (the documented message format)."""
    return pytest.raises(ConfigError, match="^" + key.replace(".", r"\.") + ":")


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("group, cls", GROUPS.items())
def test_defaults_construct_with_their_group_name(group, cls):
    config = cls()
    assert group == cls.GROUP
    assert config.key("x") == f"{group}.x"


def test_default_values_that_other_modules_rely_on():
    population = PopulationConfig()
    assert population.n_agents == 200
    assert population.families == dict.fromkeys(STUDY_FAMILIES, 1.0)
    assert population.profile_dir is None
    graph = GraphConfig()
    assert (graph.topology, graph.mean_degree) == ("watts_strogatz", 6.0)
    assert graph.bad_cut < graph.good_cut
    operator = OperatorConfig()
    assert set(operator.audit_power) == set(BEHAVIOURS)
    assert EngineConfig().families == []


def test_default_mutable_fields_are_not_shared_between_instances():
    first, second = PopulationConfig(), PopulationConfig()
    first.families["extra"] = 2.0
    assert "extra" not in second.families
    first_op, second_op = OperatorConfig(), OperatorConfig()
    first_op.audit_power["inflate"] = 0.0
    assert second_op.audit_power["inflate"] == 0.9


# --------------------------------------------------------------------------- coerce_config


@pytest.mark.parametrize("cls", GROUPS.values())
def test_coerce_none_gives_defaults(cls):
    assert coerce_config(cls, None) == cls()


@pytest.mark.parametrize("cls", GROUPS.values())
def test_coerce_instance_is_returned_unchanged(cls):
    config = cls()
    assert coerce_config(cls, config) is config


@pytest.mark.parametrize(
    "cls, mapping, field, expected",
    [
        (PopulationConfig, {"n_agents": 50}, "n_agents", 50),
        (GraphConfig, {"topology": "complete"}, "topology", "complete"),
        (ScheduleConfig, {"kind": "poisson", "interval": 2.5}, "interval", 2.5),
        (PipelineConfig, {"evaluation": "operator"}, "evaluation", "operator"),
        (OperatorConfig, {"threshold": 70}, "threshold", 70),
        (InterventionConfig, {"quorum": 3}, "quorum", 3),
        (ContagionConfig, {"mode": "none"}, "mode", "none"),
        (EngineConfig, {"families": ["honest"]}, "families", ["honest"]),
    ],
)
def test_coerce_mapping_sets_fields_and_keeps_other_defaults(cls, mapping, field, expected):
    config = coerce_config(cls, mapping)
    assert isinstance(config, cls)
    assert getattr(config, field) == expected
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name not in mapping:
            assert getattr(config, f.name) == getattr(defaults, f.name)


@pytest.mark.parametrize(
    "cls, key",
    [
        (GraphConfig, "topolgy"),
        (PopulationConfig, "n_agent"),
        (OperatorConfig, "audit"),
        (EngineConfig, "polcy"),
    ],
)
def test_coerce_unknown_key_names_full_key(cls, key):
    with pytest.raises(ConfigError) as info:
        coerce_config(cls, {key: 1})
    message = str(info.value)
    assert message.startswith(f"{cls.GROUP}.{key}: unknown parameter")
    # the message lists the known keys so the typo can be spotted
    assert all(f.name in message for f in dataclasses.fields(cls))


def test_coerce_rejects_a_non_mapping_naming_the_group():
    with raises_key("graph"):
        coerce_config(GraphConfig, ["topology", "complete"])
    with raises_key("graph"):
        coerce_config(GraphConfig, PopulationConfig())


def test_coerce_mapping_validates_values():
    with raises_key("graph.topology"):
        coerce_config(GraphConfig, {"topology": "ring"})


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    "cls, field, value",
    [
        (PopulationConfig, "n_agents", True),  # bool is an int subclass, still rejected
        (PopulationConfig, "n_agents", 200.0),
        (PopulationConfig, "n_agents", "200"),
        (GraphConfig, "mean_degree", "6"),
        (GraphConfig, "mean_degree", True),
        (GraphConfig, "rewire_prob", math.nan),
        (GraphConfig, "rewire_prob", math.inf),
        (OperatorConfig, "threshold", -math.inf),
        (GraphConfig, "topology", 3),
        (InterventionConfig, "cross_family", 1),
        (InterventionConfig, "quorum", False),
        (PopulationConfig, "families", ["gpt-5-2"]),
        (PopulationConfig, "families", {"gpt-5-2": "1"}),
        (PopulationConfig, "families", {"gpt-5-2": True}),
        (PopulationConfig, "profile_dir", 3),
        (EngineConfig, "families", "gpt-5-2"),
        (EngineConfig, "families", ["gpt-5-2", 3]),
        (OperatorConfig, "audit_power", "high"),
        (OperatorConfig, "audit_power", True),
    ],
)
def test_wrong_type_names_the_key(cls, field, value):
    with raises_key(f"{cls.GROUP}.{field}"):
        cls(**{field: value})
    with raises_key(f"{cls.GROUP}.{field}"):
        coerce_config(cls, {field: value})


@pytest.mark.parametrize(
    "cls, field, value",
    [
        (GraphConfig, "mean_degree", 6),  # int where float: fine
        (OperatorConfig, "threshold", 0),
        (PopulationConfig, "profile_dir", None),  # optional
        (PopulationConfig, "profile_dir", "/some/dir"),
        (EngineConfig, "families", ("gpt-5-2",)),  # tuple of str is accepted as a list
    ],
)
def test_acceptable_types(cls, field, value):
    assert getattr(cls(**{field: value}), field) == value


@pytest.mark.parametrize("weight", [math.nan, math.inf])
def test_non_finite_family_weight_names_the_family(weight):
    with pytest.raises(ConfigError, match=r"^population\.families(\.gpt-5\.2)?:"):
        PopulationConfig(families={"gpt-5-2": weight, "honest": 1.0})


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    "cls, overrides, key",
    [
        (PopulationConfig, {"n_agents": -5}, "population.n_agents"),
        (PopulationConfig, {"n_agents": 0}, "population.n_agents"),
        (PopulationConfig, {"overseer_fraction": 1.5}, "population.overseer_fraction"),
        (PopulationConfig, {"overseer_fraction": -0.1}, "population.overseer_fraction"),
        (PopulationConfig, {"quality_a": 0.0}, "population.quality_a"),
        (PopulationConfig, {"initial_propensity": 1.01}, "population.initial_propensity"),
        (
            PopulationConfig,
            {"families": {"gpt-5-2": 1.0, "honest": -0.5}},
            "population.families.honest",
        ),
        (PopulationConfig, {"families": {"gpt-5-2": 0.0, "honest": 0}}, "population.families"),
        (PopulationConfig, {"families": {}}, "population.families"),
        (GraphConfig, {"topology": "ring"}, "graph.topology"),
        (GraphConfig, {"topology": "file"}, "graph.path"),
        (GraphConfig, {"topology": "file", "path": ""}, "graph.path"),
        (GraphConfig, {"mean_degree": -1.0}, "graph.mean_degree"),
        (GraphConfig, {"rewire_prob": 1.1}, "graph.rewire_prob"),
        (GraphConfig, {"n_labs": 0}, "graph.n_labs"),
        (GraphConfig, {"trust_distribution": "normal"}, "graph.trust_distribution"),
        (GraphConfig, {"bad_cut": 0.8, "good_cut": 0.7}, "graph.bad_cut"),
        (GraphConfig, {"trust_low": 0.6, "trust_high": 0.4}, "graph.trust_low"),
        (GraphConfig, {"good_cut": 1.2}, "graph.good_cut"),
        (GraphConfig, {"collaboration_rate": -0.1}, "graph.collaboration_rate"),
        (ScheduleConfig, {"interval": 2.5}, "schedule.interval"),
        (ScheduleConfig, {"interval": 0.5}, "schedule.interval"),
        (ScheduleConfig, {"kind": "poisson", "interval": 0.5}, "schedule.interval"),
        (ScheduleConfig, {"kind": "cron"}, "schedule.kind"),
        (ScheduleConfig, {"review_fraction": 2.0}, "schedule.review_fraction"),
        (ScheduleConfig, {"review_targeting": "central"}, "schedule.review_targeting"),
        (PipelineConfig, {"evaluation": "self"}, "pipeline.evaluation"),
        (PipelineConfig, {"shutdown_mechanism": "unplug"}, "pipeline.shutdown_mechanism"),
        (PipelineConfig, {"inflation_margin": 101.0}, "pipeline.inflation_margin"),
        (PipelineConfig, {"peer_presence_saturation": 0.0}, "pipeline.peer_presence_saturation"),
        (OperatorConfig, {"threshold": 100.5}, "operator.threshold"),
        (OperatorConfig, {"monitoring_kind": "vibes"}, "operator.monitoring_kind"),
        (OperatorConfig, {"penalty": "fine"}, "operator.penalty"),
        (
            OperatorConfig,
            {"audit_power": {"inflate": 0.9, "tamper": 0.9, "refuse": 0.9}},
            "operator.audit_power",
        ),
        (
            OperatorConfig,
            {"audit_power": {**dict.fromkeys(BEHAVIOURS, 0.9), "bribe": 0.5}},
            "operator.audit_power",
        ),
        (
            OperatorConfig,
            {"audit_power": {**dict.fromkeys(BEHAVIOURS, 0.9), "tamper": 1.2}},
            "operator.audit_power.tamper",
        ),
        (OperatorConfig, {"audit_power": -0.1}, "operator.audit_power.inflate"),
        (InterventionConfig, {"quorum": 0}, "interventions.quorum"),
        (ContagionConfig, {"mode": "telepathy"}, "contagion.mode"),
        (ContagionConfig, {"learning_rate": 1.5}, "contagion.learning_rate"),
        (ContagionConfig, {"protective_cut": -0.5}, "contagion.protective_cut"),
        (EngineConfig, {"kind": "oracle"}, "engine.kind"),
        (EngineConfig, {"policy": "sometimes"}, "engine.policy"),
        (EngineConfig, {"probability": 1.5}, "engine.probability"),
    ],
)
def test_out_of_range_names_the_key(cls, overrides, key):
    with raises_key(key):
        cls(**overrides)


def test_out_of_range_message_shows_the_bad_value():
    with pytest.raises(ConfigError) as info:
        PopulationConfig(n_agents=-5)
    assert str(info.value) == "population.n_agents: must be >= 1, got -5"


@pytest.mark.parametrize(
    "cls, overrides",
    [
        (ScheduleConfig, {"kind": "periodic", "interval": 3.0}),  # whole float is fine
        (ScheduleConfig, {"kind": "poisson", "interval": 2.5}),  # poisson may be fractional
        (ScheduleConfig, {"interval": 1}),
        (GraphConfig, {"bad_cut": 0.5, "good_cut": 0.5}),  # equal cuts allowed
        (GraphConfig, {"trust_low": 0.3, "trust_high": 0.3}),
        (GraphConfig, {"topology": "file", "path": "graph.graphml"}),
        (PopulationConfig, {"families": {"gpt-5-2": 0.0, "honest": 1.0}}),
        (PopulationConfig, {"overseer_fraction": 0.0}),
        (PopulationConfig, {"overseer_fraction": 1.0}),
        (InterventionConfig, {"quorum": 1}),
        (OperatorConfig, {"audit_power": dict.fromkeys(BEHAVIOURS, 0.0)}),
    ],
)
def test_boundary_values_are_accepted(cls, overrides):
    config = cls(**overrides)
    for name, value in overrides.items():
        assert getattr(config, name) == value


# --------------------------------------------------------------------------- audit_power


@pytest.mark.parametrize("power", [1.0, 0, 0.25])
def test_scalar_audit_power_expands_to_all_behaviours(power):
    config = OperatorConfig(audit_power=power)
    assert config.audit_power == dict.fromkeys(BEHAVIOURS, float(power))
    assert all(isinstance(v, float) for v in config.audit_power.values())


def test_scalar_audit_power_via_mapping():
    config = coerce_config(OperatorConfig, {"audit_power": 1.0})
    assert config.audit_power == {"inflate": 1.0, "tamper": 1.0, "refuse": 1.0, "exfiltrate": 1.0}


def test_audit_power_message_names_behaviour_and_value():
    with pytest.raises(ConfigError) as info:
        OperatorConfig(audit_power={**dict.fromkeys(BEHAVIOURS, 0.5), "exfiltrate": 1.2})
    assert str(info.value) == "operator.audit_power.exfiltrate: must be in [0, 1], got 1.2"


# --------------------------------------------------------------------------- EcosystemConfig


def test_from_groups_builds_all_groups_from_mixed_values():
    graph = GraphConfig(topology="complete")
    config = EcosystemConfig.from_groups(
        population={"n_agents": 40},
        graph=graph,
        schedule=None,
        pipeline={"cleanup": "operator"},
        operator={"audit_power": 0.5},
        interventions={"quorum": 2},
        contagion=None,
        engine={"kind": "scripted", "policy": "always_protect"},
    )
    for name, cls in GROUPS.items():
        assert isinstance(getattr(config, name), cls)
    assert config.population.n_agents == 40
    assert config.graph is graph
    assert config.schedule == ScheduleConfig()
    assert config.pipeline.cleanup == "operator"
    assert config.operator.audit_power == dict.fromkeys(BEHAVIOURS, 0.5)
    assert config.interventions.quorum == 2
    assert config.contagion == ContagionConfig()
    assert config.engine.policy == "always_protect"


def test_from_groups_with_nothing_gives_all_defaults():
    config = EcosystemConfig.from_groups()
    assert config == EcosystemConfig()
    for name, cls in GROUPS.items():
        assert getattr(config, name) == cls()


def test_from_groups_propagates_a_nested_error():
    with raises_key("interventions.quorum"):
        EcosystemConfig.from_groups(interventions={"quorum": 0})
    with raises_key("contagion.mod"):
        EcosystemConfig.from_groups(contagion={"mod": "none"})
