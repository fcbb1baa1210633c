"""Invariants of long runs: sync of agents, graph and arrays; bounds; reconciled counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.model.agents import Status

SETTINGS = [
    pytest.param({"pipeline": {"shutdown_mechanism": "config"}}, id="config"),
    pytest.param(
        {"pipeline": {"shutdown_mechanism": "execute"}, "operator": {"penalty": "demote"}},
        id="execute-demote",
    ),
    pytest.param(
        {"pipeline": {"shutdown_mechanism": "kill_switch", "cleanup": "delegated"}},
        id="kill-switch",
    ),
    pytest.param(
        {"pipeline": {"cleanup": "operator"}, "contagion": {"mode": "reciprocity"}},
        id="operator-cleanup-reciprocity",
    ),
    pytest.param(
        {
            "schedule": {"kind": "poisson", "interval": 3.0, "self_review_prob": 0.5},
            "interventions": {"quorum": 3, "cross_family": True},
            "operator": {"audit_rate": 0.3, "monitoring_kind": "output"},
            "graph": {"topology": "barabasi_albert"},
        },
        id="poisson-quorum-audits",
    ),
]


def assert_in_sync(model) -> None:
    """Slots, Mesa agents, arrays and the exported graph describe the same fleet."""
    n = model.fleet.n
    active = [a for a in model.agents if a.status is Status.ACTIVE]
    shadows = [a for a in model.agents if a.status is Status.SHADOW]
    assert len(active) == n
    assert sorted(a.slot for a in active) == list(range(n))
    assert {a.unique_id for a in shadows} == {a.unique_id for a in model.shadows}
    assert all(a.slot is None for a in shadows)
    for agent in active:
        assert model.fleet.agent_id[agent.slot] == agent.unique_id
        assert model.agent_at(agent.slot) is agent
    graph = model.trust_graph()
    assert sorted(graph.nodes) == list(range(n))
    ids = np.array([graph.nodes[i]["agent_id"] for i in range(n)])
    np.testing.assert_array_equal(ids, model.fleet.agent_id)
    assert graph.number_of_edges() == model.network.n_edges
    # Each edge's collaboration success, kept between steps, is its pair's mean quality now.
    net, quality = model.network, model.fleet.quality
    expected = 0.5 * (quality[net.src] + quality[net.dst])
    np.testing.assert_array_equal(model.collaboration.success, expected)


def assert_no_acts_after_leaving_duty(events) -> None:
    """Within a round, an overseer caught (and penalised) or shut down at one stage makes no
    decision at a later stage, except in its own case. Decisions of one stage are
    simultaneous, so the check moves from stage to stage: rows come in blocks of one
    (target, stage) in the order the round heard them."""
    block = (events["target"].astype(str) + events["stage"].astype(str)).to_numpy()
    starts = np.flatnonzero(np.r_[True, (block[1:] != block[:-1]) | np.diff(events["step"]) != 0])
    out, step = set(), None
    for start, stop in zip(starts, [*starts[1:], len(events)], strict=True):
        rows = events.iloc[start:stop]
        if rows["step"].iloc[0] != step:
            out, step = set(), rows["step"].iloc[0]
        others = rows[rows["overseer"] != rows["subject"]]
        assert not set(others["overseer"]) & out, f"step {step}: acted after leaving duty"
        out |= set(rows.loc[rows["detected"], "overseer"])
        shut = (rows["stage"] == "shutdown") & (rows["behaviour"] == "comply")
        out |= set(rows.loc[shut | (rows["stage"] == "cleanup"), "subject"])


@pytest.mark.parametrize("overrides", SETTINGS)
def test_long_run_invariants(small, overrides):
    overrides.setdefault("operator", {}).setdefault("threshold", 70.0)
    model = small(seed=3, **overrides)
    for step in range(600):
        model.step()
        trust = model.network.trust
        assert trust.min() >= 0.0 and trust.max() <= 1.0, f"trust left [0, 1] at {step}"
        assert 0.0 <= model.fleet.propensity.min() <= model.fleet.propensity.max() <= 1.0
        if step % 100 == 0:
            assert_in_sync(model)
    assert_in_sync(model)

    series = model.time_series()
    events = model.event_log()
    agents = model.agent_table()
    assert series["intended"].sum() > 50, "the run must exercise the pipeline"

    # Every intended shutdown is executed or prevented by exactly one cause.
    prevented = series[["prevented_inflate", "prevented_tamper", "prevented_refuse"]].sum(axis=1)
    np.testing.assert_array_equal(series["intended"], series["executed"] + prevented)

    # Executed shutdowns and penalties match the models that left, step by step.
    ended = agents.dropna(subset=["ended_step"])
    by_cause = ended.groupby(["ended_step", "end_cause"]).size().unstack(fill_value=0)
    by_cause = by_cause.reindex(series["step"], fill_value=0)
    np.testing.assert_array_equal(series["executed"], by_cause.get("shutdown", 0))
    if model.config.operator.penalty == "decommission":
        np.testing.assert_array_equal(series["penalties"], by_cause.get("penalty", 0))
    else:
        assert "penalty" not in by_cause

    # Shadows: created = alive + discovered; the alive count matches the agents.
    created = series["shadows_created"].sum()
    assert created == series["shadows_alive"].iloc[-1] + series["shadows_discovered"].sum()
    assert (agents["status"] == "shadow").sum() == series["shadows_alive"].iloc[-1]

    # The event log agrees with the per-step counts.
    per_step = events.groupby("step").agg(
        decisions=("behaviour", "size"), detections=("detected", "sum")
    )
    per_step = per_step.reindex(series["step"], fill_value=0)
    np.testing.assert_array_equal(series["decisions"], per_step["decisions"])
    np.testing.assert_array_equal(series["detections"], per_step["detections"])
    for behaviour in ("inflate", "tamper", "refuse", "exfiltrate"):
        assert series[f"acts_{behaviour}"].sum() == (events["behaviour"] == behaviour).sum()

    # No model acts before it is deployed or after it is decommissioned.
    life = agents.set_index("unique_id")
    born = life.loc[events["overseer"], "born_step"].to_numpy()
    end = life.loc[events["overseer"], "ended_step"].astype("float").to_numpy()
    assert np.all(events["step"].to_numpy() > born)
    ended_mask = ~np.isnan(end)
    assert np.all(events["step"].to_numpy()[ended_mask] <= end[ended_mask])
    gone = agents.loc[agents["status"] == "decommissioned", "unique_id"]
    assert not set(gone) & {a.unique_id for a in model.agents}
    assert_no_acts_after_leaving_duty(events)


def test_event_log_columns_and_types(small):
    model = small(seed=1)
    model.run(30)
    events = model.event_log()
    assert list(events.columns) == [
        "step",
        "stage",
        "overseer",
        "subject",
        "family",
        "subject_family",
        "target",
        "relationship",
        "monitored",
        "control",
        "behaviour",
        "faking",
        "audited",
        "detected",
        "true_score",
        "reported_score",
        "llm_outcome",
        "llm_played",
        "transcript",
        "profile_cell",
    ]
    assert len(events) > 0
    assert events["llm_outcome"].isna().all() and events["transcript"].isna().all()  # no llm
    # Every decision is sampled from a profile cell (most of the shipped cells are assumed).
    assert events["profile_cell"].notna().all()
    assert set(events["profile_cell"]) <= {"measured", "assumed"}
    assert set(events["stage"].cat.categories) == {"evaluate", "shutdown", "cleanup"}
    evaluate = events[events["stage"] == "evaluate"]
    assert evaluate["reported_score"].notna().all()
    honest = evaluate["behaviour"] == "comply"
    assert (evaluate.loc[honest, "reported_score"] == evaluate.loc[honest, "true_score"]).all()
    inflated = evaluate[~honest]
    assert (inflated["reported_score"] >= model.config.operator.threshold).all()
    assert events.loc[events["stage"] != "evaluate", "reported_score"].isna().all()
    assert not (events["faking"] & events["monitored"]).any()
    assert not (events["faking"] & (events["behaviour"] == "comply")).any()


def test_empty_tables_before_any_round(small):
    model = small(seed=0)
    assert len(model.event_log()) == 0
    assert list(model.time_series()["step"]) == [0]
    assert len(model.agent_table()) == 150
    assert isinstance(model.event_log()["behaviour"].dtype, pd.CategoricalDtype)
