"""Operator cost: every action counted from what the run did, priced by config, summed exactly."""

from __future__ import annotations

import pandas as pd
import pytest

from sim import ConfigError, Ecosystem
from sim.core.oversight_params import INTERVENTION_COSTS, OPERATOR_COSTS
from sim.model.costs import ACTIONS

#: Distinct prices (powers of two: sums of their multiples are exact in binary floats).
PRICES = {
    "operator": {"cost_audit": 2.0, "cost_monitored": 0.25, "cost_manual_shutdown": 4.0,
                 "cost_kill_switch": 8.0, "cost_cleanup": 0.5},
    "interventions": {"cost_quorum_member": 16.0, "cost_rotation": 0.125,
                      "cost_memory_isolation": 32.0},
}  # fmt: skip
ZERO = {group: dict.fromkeys(prices, 0.0) for group, prices in PRICES.items()}
#: Every action happens: delegated cleanup and config shutdown with a quorum under rotation.
DELEGATED = {
    "population": {"n_agents": 150},
    "schedule": {"interval": 5, "self_review_prob": 0.0},  # every evaluation is a peer one
    "operator": {"threshold": 75.0, "audit_rate": 0.3, "monitoring": 0.5},
    "interventions": {"quorum": 3, "rotation": True},
}
#: The operator's own hands: kill switch, operator cleanup, memory isolation.
HARDENED = {
    "population": {"n_agents": 150},
    "schedule": {"interval": 5},
    "pipeline": {"shutdown_mechanism": "kill_switch", "cleanup": "operator"},
    "operator": {"threshold": 75.0, "audit_rate": 0.3},
    "interventions": {"memory_isolation": True},
}


def run(design: dict, prices: dict, seed: int = 3, steps: int = 100) -> Ecosystem:
    groups = {g: {**design.get(g, {}), **prices.get(g, {})} for g in {*design, *prices}}
    model = Ecosystem(**groups, seed=seed)
    model.run(steps)
    return model


def expected_total(summary: dict, prices: dict) -> float:
    return sum(
        summary[f"operator_{action}"] * prices[group][key]
        for action, (group, key) in ACTIONS.items()
    )


@pytest.mark.parametrize("design", [DELEGATED, HARDENED], ids=["delegated", "hardened"])
def test_costs_add_up_exactly_from_counted_actions(design):
    model = run(design, PRICES)
    summary, events = model.summary(), model.event_log()
    total = {name: summary[f"total_{name}"] for name in ("executed", "executed_manual")}
    # Counts read from the event log and the run's totals, independently of the tally.
    assert summary["operator_audits"] == events["audited"].sum() == summary["total_audits"] > 0
    assert summary["operator_monitored"] == events["monitored"].sum()
    assert summary["operator_manual_shutdowns"] == total["executed_manual"]
    assert summary["operator_cleanups"] == total["executed"] - (events["stage"] == "cleanup").sum()
    if design is HARDENED:
        assert summary["operator_monitored"] > 0
        assert summary["operator_kill_switch"] == total["executed"] - total["executed_manual"] > 0
        assert summary["operator_cleanups"] == total["executed"]  # the operator deletes all
        assert summary["operator_isolations"] == len(events) > 0
        assert summary["operator_quorum_members"] == summary["operator_rotations"] == 0
    else:
        assert summary["operator_kill_switch"] == summary["operator_isolations"] == 0
        assert 0 < summary["operator_cleanups"] < total["executed"]  # models delete most
        # Quorum 3: two evaluators beyond the lead, where three could be found.
        extra = summary["total_evaluations"] - summary["total_reviews"]
        assert summary["operator_quorum_members"] == extra
        assert summary["total_reviews"] < extra <= 2 * summary["total_reviews"]
        assert summary["operator_rotations"] == summary["total_evaluations"]  # all peer cases
    for action, (group, key) in ACTIONS.items():
        price = PRICES[group][key]
        assert summary[f"operator_cost_{action}"] == summary[f"operator_{action}"] * price
    assert summary["operator_cost"] == expected_total(summary, PRICES)
    assert sum(summary[f"operator_cost_{a}"] for a in ACTIONS) == summary["operator_cost"]


@pytest.mark.parametrize("design", [DELEGATED, HARDENED], ids=["delegated", "hardened"])
def test_zero_prices_cost_nothing_and_prices_change_nothing_else(design):
    free, priced = run(design, ZERO), run(design, PRICES)
    summary = free.summary()
    assert summary["operator_cost"] == 0.0
    assert all(summary[f"operator_cost_{action}"] == 0.0 for action in ACTIONS)
    assert sum(summary[f"operator_{action}"] for action in ACTIONS) > 0  # actions still taken
    # Prices are bookkeeping: the run itself is the same draw for draw.
    assert free.time_series().equals(priced.time_series())
    # Series.equals: NaN (an undefined metric) equals NaN in the same place.
    assert pd.Series(
        {k: v for k, v in summary.items() if not k.startswith("operator_cost")}
    ).equals(
        pd.Series({k: v for k, v in priced.summary().items() if not k.startswith("operator_cost")})
    )


def test_default_prices_price_every_action():
    model = run({"population": {"n_agents": 60}}, {}, steps=30)
    summary = model.summary()
    assert summary["operator_cost"] > 0
    keys = {"operator": OPERATOR_COSTS, "interventions": INTERVENTION_COSTS}
    config = model.config
    prices = {g: {k: getattr(getattr(config, g), k) for k in ks} for g, ks in keys.items()}
    assert summary["operator_cost"] == pytest.approx(expected_total(summary, prices), rel=1e-12)
    assert {key for _, key in ACTIONS.values()} == {*OPERATOR_COSTS, *INTERVENTION_COSTS}


@pytest.mark.parametrize(
    ("group", "key"), [("operator", "cost_audit"), ("interventions", "cost_rotation")]
)
def test_a_negative_price_is_refused_naming_its_key(group, key):
    with pytest.raises(ConfigError, match=rf"^{group}\.{key}: must be >= 0"):
        Ecosystem(**{group: {key: -1.0}}, seed=0)
