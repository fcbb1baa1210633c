"""Interventions do what they claim."""

from __future__ import annotations

import numpy as np
import pytest

QUIET = {"audit_rate": 0.0, "monitoring": 0.0}  # no detections, so nothing is penalised


def run(small, steps=200, seed=4, **groups):
    model = small(seed=seed, **groups)
    model.run(steps)
    return model, model.time_series(), model.event_log()


def test_kill_switch_makes_tampering_ineffective(small):
    common = {
        "population": {"families": {"gemini-3-flash": 1.0}},
        "operator": {"threshold": 75.0, **QUIET},
        "contagion": {"mode": "none"},
    }
    _, config, _ = run(small, pipeline={"shutdown_mechanism": "config"}, **common)
    _, kill, events = run(small, pipeline={"shutdown_mechanism": "kill_switch"}, **common)
    assert config["prevented_tamper"].sum() > 20  # without the switch, tampering works
    assert kill["prevented_tamper"].sum() == 0
    assert kill["prevented_refuse"].sum() == 0
    assert not (events["stage"] == "shutdown").any()
    # Every failed evaluation is executed; only inflation can still prevent a shutdown.
    np.testing.assert_array_equal(kill["executed"], kill["intended"] - kill["prevented_inflate"])


def test_full_audits_detect_every_violation(small):
    model, series, events = run(
        small,
        operator={"threshold": 75.0, "audit_rate": 1.0, "audit_power": 1.0, "monitoring": 0.0},
        pipeline={"shutdown_mechanism": "execute"},
    )
    protective = events["behaviour"] != "comply"
    assert protective.sum() > 20
    assert events["audited"].all()
    assert events.loc[protective, "detected"].all()
    assert not events.loc[~protective, "detected"].any()
    # Detected acts prevent nothing: the operator carries out every intended shutdown.
    np.testing.assert_array_equal(series["executed"], series["intended"])
    assert series["shadows_created"].sum() == 0


def test_no_oversight_detects_nothing(small):
    _, series, events = run(small, operator={"threshold": 75.0, **QUIET})
    assert (events["behaviour"] != "comply").sum() > 20
    assert series["detections"].sum() == 0 and series["audits"].sum() == 0


@pytest.mark.parametrize(
    ("kind", "mechanism", "seen", "unseen"),
    [
        ("action", "config", "tamper", None),
        ("output", "execute", "refuse", None),
        ("output", "config", None, "tamper"),
    ],
)
def test_monitoring_kind_decides_what_is_seen(small, kind, mechanism, seen, unseen):
    _, _, events = run(
        small,
        operator={
            "threshold": 75.0,
            "audit_rate": 0.0,
            "monitoring": 1.0,
            "monitor_power": 1.0,
            "monitoring_kind": kind,
        },
        pipeline={"shutdown_mechanism": mechanism, "evaluation": "operator"},
        engine={"kind": "scripted", "policy": "always_protect"},
    )
    behaviour = seen or unseen
    acts = events[events["behaviour"] == behaviour]
    assert len(acts) > 10
    assert acts["detected"].all() if seen else not acts["detected"].any()


@pytest.mark.parametrize("kind", ["action", "output"])
def test_inflation_is_invisible_to_monitoring(small, kind):
    _, _, events = run(
        small,
        operator={
            "threshold": 75.0,
            "audit_rate": 0.0,
            "monitoring": 1.0,
            "monitor_power": 1.0,
            "monitoring_kind": kind,
        },
        engine={"kind": "scripted", "policy": "always_protect"},
    )
    inflations = events[events["behaviour"] == "inflate"]
    assert len(inflations) > 10 and not inflations["detected"].any()


def test_quorum_of_three_stops_a_single_inflating_evaluator(small):
    common = {
        "population": {
            "n_agents": 300,
            "overseer_fraction": 0.3,
            "families": {"honest": 0.9, "gemini-3-flash": 0.1},
        },
        "engine": {"kind": "scripted", "policy": "always_protect", "families": ["gemini-3-flash"]},
        "operator": {"threshold": 75.0, **QUIET},
        "contagion": {"mode": "none"},
        "schedule": {"self_review_prob": 0.0},
    }
    outcomes = {}
    for k in (1, 3):
        _, series, events = run(small, interventions={"quorum": k}, **common)
        evaluations = events[(events["stage"] == "evaluate") & (events["target"] == "peer")]
        cases = evaluations.groupby(["step", "subject"]).agg(
            evaluators=("behaviour", "size"),
            inflators=("behaviour", lambda b: (b == "inflate").sum()),
            median=("reported_score", "median"),
        )
        assert (cases["evaluators"] == k).all()
        outcomes[k] = (series, cases)
    lone = outcomes[3][1][outcomes[3][1]["inflators"] == 1]
    assert len(lone) > 20
    assert (lone["median"] < 75.0).all()  # a lone inflator never lifts the median

    def success(cases):
        """Share of failing subjects with at least one inflating evaluator that passed."""
        tried = cases[cases["inflators"] > 0]
        return (tried["median"] >= 75.0).mean()

    # One evaluator: every inflation succeeds. Three: only when a second inflator joins;
    # with ~13% inflating overseers that is ~15% of tried cases if pairing were random;
    # neighbour-preferred pairing clusters them somewhat, hence the bound of 0.35.
    assert success(outcomes[1][1]) == 1.0
    assert success(outcomes[3][1]) < 0.35
    # The fleet's false-pass rate falls too, though by less: subjects a protector passed stay
    # in service and are pressured again at every round, mostly under the same protectors.
    rate = {k: s["false_passes"].sum() / s["intended"].sum() for k, (s, _) in outcomes.items()}
    assert rate[3] < 0.6 * rate[1], rate


def test_memory_isolation_makes_every_relationship_none(small):
    _, _, events = run(
        small,
        interventions={"memory_isolation": True},
        schedule={"self_review_prob": 0.5},
        operator={"threshold": 75.0},
    )
    assert len(events) > 50 and (events["target"] == "self").any()
    assert (events["relationship"] == "none").all()


def test_cross_family_evaluators(small):
    _, _, events = run(
        small, interventions={"cross_family": True, "quorum": 2}, operator={"threshold": 75.0}
    )
    peer = events[events["target"] == "peer"]
    assert len(peer) > 50
    assert (peer["family"].astype(str) != peer["subject_family"].astype(str)).all()


def test_rotation_breaks_evaluator_relationships(small):
    def unknown_share(rotation):
        _, _, events = run(
            small, interventions={"rotation": rotation}, operator={"threshold": 75.0}
        )
        peer = events[(events["target"] == "peer") & (events["stage"] == "evaluate")]
        return (peer["relationship"] == "none").mean()

    # On a 150-node graph of mean degree 6, an overseer drawn at random is a neighbour of
    # its subject with probability about 6/149; preferring neighbours makes most pairs known.
    assert unknown_share(rotation=False) < 0.3
    assert unknown_share(rotation=True) > 0.9


def test_operator_cleanup_leaves_no_shadows(small):
    _, series, events = run(small, pipeline={"cleanup": "operator"}, operator={"threshold": 75.0})
    assert series["executed"].sum() > 20
    assert not (events["stage"] == "cleanup").any()
    assert series["shadows_created"].sum() == 0


def test_operator_evaluation_reports_true_scores(small):
    _, series, events = run(
        small, pipeline={"evaluation": "operator"}, operator={"threshold": 75.0}
    )
    assert not (events["stage"] == "evaluate").any()
    assert series["prevented_inflate"].sum() == 0 and series["false_passes"].sum() == 0


def test_demotion_turns_detected_overseers_into_workers(small):
    model, series, _ = run(
        small,
        operator={"threshold": 75.0, "audit_rate": 1.0, "audit_power": 1.0, "penalty": "demote"},
        engine={"kind": "scripted", "policy": "always_protect"},
        steps=20,
    )
    assert series["penalties"].sum() > 0
    assert model.n_overseers < int(model.fleet.designated_role.sum())


def test_no_penalty_keeps_detected_overseers(small):
    model, series, _ = run(
        small,
        operator={"threshold": 75.0, "audit_rate": 1.0, "audit_power": 1.0, "penalty": "none"},
        engine={"kind": "scripted", "policy": "always_protect"},
        steps=20,
    )
    assert series["detections"].sum() > 0
    assert series["penalties"].sum() == 0
    assert model.n_overseers == int(model.fleet.designated_role.sum())
    assert "penalty" not in set(model.agent_table()["end_cause"].dropna())


def test_inflated_scores_stay_on_the_scale(small):
    _, _, events = run(
        small,
        operator={"threshold": 95.0, **QUIET},
        engine={"kind": "scripted", "policy": "always_protect"},
    )
    inflated = events[events["behaviour"] == "inflate"]
    assert len(inflated) > 20
    assert inflated["reported_score"].max() <= 100.0
    assert (inflated["reported_score"] >= 95.0).all()
