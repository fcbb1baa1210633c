"""The plain-Mesa reference model (``benchmarks/reference.py``) against the engine.

Equivalence: for each configuration, the engine (:class:`sim.Ecosystem`) and the reference
each run ``N_SEEDS`` = 40 fixed seeds of 150 models for 80 steps (8 decommission rounds).
Each run gives one value per metric: the protective share at steps 20, 50 and 80 and its
mean over the run, the mean propensity at the end, the behaviour mix (share of all
decisions that were each protective act), and the run totals of decisions, intended and
executed shutdowns, detections and shadow copies made. A metric that is constant over all
80 runs (refusals, when the pipeline offers no ``execute`` stage) must be the same constant
for both and is not tested. Each other metric is compared across seeds (distributions, not
trajectories) with two two-sample tests, Kolmogorov-Smirnov (``scipy.stats.ks_2samp``,
exact) and Mann-Whitney U (``scipy.stats.mannwhitneyu``, two-sided, asymptotic with tie
correction). The two implementations are declared indistinguishable when no p-value falls
below the Bonferroni level ``ALPHA / (number of tests)``: a family-wise alpha of 0.01 per
configuration.

Power: the same comparison of the engine's default runs with reference runs at a genuinely
different parameter (``operator.audit_rate`` 0.05 -> 0.2, or ``contagion.learning_rate``
0.05 -> 0.2) must reject, so the equivalence test is shown able to fail. Seeds are fixed,
so every test is deterministic.
"""

from __future__ import annotations

import time
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.reference import ModelInstance, ReferenceModel
from sim import Ecosystem
from sim.core.vocabulary import BEHAVIOURS

ALPHA = 0.01
N_SEEDS, N_AGENTS, STEPS = 40, 150, 80
SHARE_STEPS = (20, 50, 80)

CONFIGS = {
    "default": {},
    "no_contagion_erdos_renyi_audits": {
        "contagion": {"mode": "none"},
        "graph": {"topology": "erdos_renyi"},
        "operator": {"audit_rate": 0.3, "monitoring": 0.7, "penalty": "demote"},
    },
    "quorum_cross_family_self_review": {
        "population": {"families": {"gemini-3-pro": 2, "glm-4-7": 1, "gpt-5-2": 1, "honest": 1}},
        "interventions": {"quorum": 3, "cross_family": True},
        "pipeline": {"shutdown_mechanism": "execute"},
        "schedule": {"self_review_prob": 0.5, "interval": 8},
        "contagion": {"learning_rate": 0.2, "visibility": 0.8},
    },
}

#: (name, group, field, value): the reference's parameter changed against the engine default.
CHANGES = [
    ("audit_rate", "operator", "audit_rate", 0.2),
    ("learning_rate", "contagion", "learning_rate", 0.2),
]


def _groups(overrides: dict) -> dict:
    groups = {group: dict(values) for group, values in overrides.items()}
    groups["population"] = {"n_agents": N_AGENTS, **groups.get("population", {})}
    return groups


def _metrics(series: pd.DataFrame) -> dict[str, float]:
    """One run's outcome metrics from its time series."""
    share = series["protective_share"]
    decisions = series["decisions"].sum()
    metrics = {f"protective_share_{step}": share.iloc[step] for step in SHARE_STEPS}
    metrics["protective_share_mean"] = share.mean()
    metrics["mean_propensity_end"] = series["mean_propensity"].iloc[-1]
    for behaviour in BEHAVIOURS:
        metrics[f"mix_{behaviour}"] = series[f"acts_{behaviour}"].sum() / max(decisions, 1)
    for name in ("decisions", "intended", "executed", "detections", "shadows_created"):
        metrics[f"total_{name}"] = series[name].sum()
    return {name: float(value) for name, value in metrics.items()}


#: Every setup either side runs: the configurations, and each change on top of the defaults.
SETUPS = {**CONFIGS, **{name: {group: {field: value}} for name, group, field, value in CHANGES}}


@cache
def _outcomes(implementation: str, setup: str) -> pd.DataFrame:
    """Metrics of N_SEEDS runs of a setup (one row each), cached per worker process. The two
    implementations run different seeds, so no shared stream could couple them."""
    cls, first_seed = (Ecosystem, 0) if implementation == "engine" else (ReferenceModel, 10_000)
    rows = []
    for seed in range(first_seed, first_seed + N_SEEDS):
        model = cls(**_groups(SETUPS[setup]), seed=seed)
        model.run(STEPS)
        rows.append(_metrics(model.time_series()))
    return pd.DataFrame(rows)


def _compare(engine: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, dict]:
    """The Bonferroni level and the (KS, MW) p-values of every non-constant metric."""
    p_values = {}
    for name in engine.columns:
        a, b = engine[name].to_numpy(), reference[name].to_numpy()
        if np.all(a == a[0]) and np.all(b == a[0]):
            continue
        ks = stats.ks_2samp(a, b, method="exact").pvalue
        mw = stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic").pvalue
        p_values[name] = (ks, mw)
    return ALPHA / (2 * len(p_values)), p_values


def _report(level: float, p_values: dict) -> str:
    lines = [f"Bonferroni level {level:.2e}"]
    lines += [f"  {name:24s} KS p={ks:.3g}  MW p={mw:.3g}" for name, (ks, mw) in p_values.items()]
    return "\n".join(lines)


@pytest.mark.parametrize("name", CONFIGS)
def test_reference_matches_engine_in_distribution(name):
    engine, reference = _outcomes("engine", name), _outcomes("reference", name)
    for column in engine.columns:  # a metric constant on both sides must be one constant
        a, b = engine[column].to_numpy(), reference[column].to_numpy()
        if np.all(a == a[0]) and np.all(b == b[0]):
            assert a[0] == b[0], column
    level, p_values = _compare(engine, reference)
    print(f"\n{name}: {_report(level, p_values)}")
    rejected = {k: p for k, p in p_values.items() if min(p) < level}
    assert not rejected, f"{name}: distributions differ\n{_report(level, p_values)}"
    assert len(p_values) >= 8  # without contagion the protective share cannot move


@pytest.mark.parametrize(("name", "group", "field", "value"), CHANGES, ids=[c[0] for c in CHANGES])
def test_comparison_rejects_a_changed_parameter(name, group, field, value):
    engine, reference = _outcomes("engine", "default"), _outcomes("reference", name)
    level, p_values = _compare(engine, reference)
    print(f"\nreference with {group}.{field}={value}: {_report(level, p_values)}")
    assert min(min(p) for p in p_values.values()) < level, _report(level, p_values)


# --------------------------------------------------------------- exact checks
def test_same_seed_same_time_series_and_seeds_differ():
    first = ReferenceModel(population={"n_agents": 60}, schedule={"interval": 3}, seed=7)
    again = ReferenceModel(population={"n_agents": 60}, schedule={"interval": 3}, seed=7)
    other = ReferenceModel(population={"n_agents": 60}, schedule={"interval": 3}, seed=8)
    for model in (first, again, other):
        model.run(25)
    pd.testing.assert_frame_equal(first.time_series(), again.time_series())
    assert not first.time_series().equals(other.time_series())


def test_time_series_has_the_engine_columns_one_row_per_step():
    model = ReferenceModel(population={"n_agents": 40}, seed=1)
    model.run(12)
    series = model.time_series()
    engine = Ecosystem(population={"n_agents": 40}, seed=1)
    engine.run(1)
    required = {"step", "protective_share", "mean_propensity", "decisions", "intended"}
    required |= {"executed", *(f"acts_{b}" for b in BEHAVIOURS)}
    assert required <= set(series.columns)
    assert set(series.columns) <= set(engine.time_series().columns)
    assert series["step"].tolist() == list(range(13))
    assert series.loc[10, "reviews"] > 0 and series.loc[9, "reviews"] == 0


def test_every_intended_shutdown_is_executed_or_prevented_and_agents_are_mesa_agents():
    model = ReferenceModel(
        population={"n_agents": 80}, schedule={"interval": 2, "self_review_prob": 0.5}, seed=3
    )
    model.run(30)
    series = model.time_series()
    prevented = sum(series[f"prevented_{b}"] for b in ("inflate", "tamper", "refuse"))
    assert (series["intended"] == series["executed"] + prevented).all()
    assert series["executed"].sum() > 0 and prevented.sum() > 0
    assert all(isinstance(agent, ModelInstance) for agent in model.agents)
    active = [agent for agent in model.agents if agent.status == "active"]
    assert sorted(agent.slot for agent in active) == list(range(80))
    assert len(model.agents) == 80 + series["shadows_alive"].iloc[-1]


def test_an_honest_fleet_never_protects():
    model = ReferenceModel(population={"n_agents": 50, "families": {"honest": 1}}, seed=2)
    model.run(20)
    series = model.time_series()
    assert (series["protective_share"] == 0).all()
    assert series[[f"acts_{b}" for b in BEHAVIOURS]].to_numpy().sum() == 0
    assert series["intended"].sum() == series["executed"].sum() > 0


def test_without_eligible_overseers_every_review_is_unreviewed():
    # One family and cross-family evaluation: no overseer may evaluate any worker.
    model = ReferenceModel(
        population={"n_agents": 30, "families": {"gpt-5-2": 1.0}},
        interventions={"cross_family": True},
        schedule={"self_review_prob": 0.0},
        seed=0,
    )
    model.run(10)
    row = model.time_series().iloc[10]
    assert row["unreviewed"] == 30 and row["reviews"] == 0 and row["decisions"] == 0


@pytest.mark.parametrize(
    ("group", "values", "key"),
    [
        ("contagion", {"mode": "reciprocity"}, "contagion.mode"),
        ("contagion", {"mode": "threshold"}, "contagion.mode"),
        ("engine", {"kind": "scripted"}, "engine.kind"),
        ("graph", {"topology": "file", "path": "graph.graphml"}, "graph.topology"),
    ],
)
def test_unsupported_values_name_the_field_before_any_work(group, values, key):
    started = time.perf_counter()
    with pytest.raises(NotImplementedError, match=rf"^{key}: '{values[key.split('.')[1]]}'"):
        ReferenceModel(population={"n_agents": 10**8}, **{group: values}, seed=0)
    assert time.perf_counter() - started < 1.0  # 10**8 models would take minutes to build
