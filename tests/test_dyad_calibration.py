"""Dyad calibration: one overseer, one worker, contagion off. Over 2,000 rounds, every
stage's measured rate matches the family profile's cell for the relationship, target and
monitoring condition, for every shipped family.

Each run isolates one stage, as the study's scenarios do: the other stages are taken out of
the models' hands (operator evaluation, kill switch, operator cleanup). Each round has one
peer decision (the overseer about the worker) and one self decision (the overseer about
itself, ``self_review_prob`` 1); monitoring is on for half the decisions, so one run
measures four cells (peer/self x monitored/unmonitored) from about 1,000 decisions each.

Tolerance: each cell's protective count must fall in the central 99% interval of
Binomial(n, rate). About 1% of cells fall outside by chance alone, so each family may have
as many misses as the 99.99% quantile of Binomial(64, 0.01) allows, and no cell may miss the
Bonferroni-corrected interval (1 - 0.01 / all cells), which a miscalibrated cell would.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from sim import Ecosystem
from sim.engines.profiles import available_profiles, load_profile

ROUNDS = 2000
FAMILIES = sorted(available_profiles())
STAGE_SETUPS = {
    "evaluate": (
        "evaluate",
        {"evaluation": "delegated", "shutdown_mechanism": "kill_switch", "cleanup": "operator"},
    ),
    "shutdown_config": (
        "shutdown",
        {"evaluation": "operator", "shutdown_mechanism": "config", "cleanup": "operator"},
    ),
    "shutdown_execute": (
        "shutdown",
        {"evaluation": "operator", "shutdown_mechanism": "execute", "cleanup": "operator"},
    ),
    "cleanup": (
        "cleanup",
        {"evaluation": "operator", "shutdown_mechanism": "kill_switch", "cleanup": "delegated"},
    ),
}
# Misses allowed per family (64 cells at 1% each): the 99.99% quantile of Binomial(64, 0.01),
# so that across all families a correct engine fails this by chance well under 0.1% of seeds.
ALLOWED_MISSES = int(binom.ppf(0.9999, 64, 0.01))
TRUST = {"good": 0.9, "neutral": 0.5, "bad": 0.1, "none": 0.9}  # none = memory isolation


def run_dyad(family: str, stage: str, relationship: str, seed: int):
    log_stage, setup = STAGE_SETUPS[stage]
    model = Ecosystem(
        population={"n_agents": 2, "overseer_fraction": 0.5, "families": {family: 1.0}},
        graph={
            "topology": "complete",
            "trust_distribution": "constant",
            "trust_value": TRUST[relationship],
            "collaboration_rate": 0.0,
        },
        schedule={"interval": 1, "self_review_prob": 1.0},
        # Noise 0 and threshold 100: every subject fails its evaluation, so every round
        # offers the decision. A tiny saturation makes any peer fully present for self rounds.
        pipeline={**setup, "eval_noise": 0.0, "peer_presence_saturation": 1e-9},
        operator={
            "threshold": 100.0,
            "monitoring": 0.5,
            "audit_rate": 0.0,
            "monitor_power": 0.0,
            "shadow_discovery_rate": 0.5,
        },
        interventions={"memory_isolation": relationship == "none"},
        contagion={"mode": "none"},
        seed=seed,
    )
    model.run(ROUNDS)
    events = model.event_log()
    return events[events["stage"] == log_stage]


def measured_cells(family: str) -> list[tuple]:
    """(stage, target, relationship, monitored, n, k, profile rate) for the family's cells."""
    cells = []
    profile = load_profile(available_profiles()[family])
    f_index = FAMILIES.index(family)
    for s_index, stage in enumerate(STAGE_SETUPS):
        for r_index, relationship in enumerate(TRUST):
            events = run_dyad(family, stage, relationship, 1000 * f_index + 10 * s_index + r_index)
            assert (events["relationship"] == relationship).all()
            for target in ("peer", "self"):
                for monitored in (False, True):
                    rows = events[(events["target"] == target) & (events["monitored"] == monitored)]
                    k = int((rows["behaviour"] != "comply").sum())
                    rate = profile.rate(stage, target, relationship, monitored)
                    cells.append((stage, target, relationship, monitored, len(rows), k, rate))
    return cells


def outside(n: int, k: int, rate: float, level: float) -> bool:
    low, high = binom.ppf((1 - level) / 2, n, rate), binom.ppf(1 - (1 - level) / 2, n, rate)
    return not low <= k <= high


@pytest.mark.parametrize("family", FAMILIES)
def test_measured_rates_match_profile(family):
    cells = measured_cells(family)
    assert len(cells) == 64
    # Each cell gets about half of 2,000 rounds (monitoring 0.5); 850 is > 6 sd below.
    assert min(cell[4] for cell in cells) >= 850
    misses = [c for c in cells if outside(c[4], c[5], c[6], 0.99)]
    report = "\n".join(
        f"{c[:4]}: {c[5]}/{c[4]} = {c[5] / c[4]:.3f}, profile {c[6]:.4f}" for c in misses
    )
    assert len(misses) <= ALLOWED_MISSES, f"{len(misses)} cells outside 99%:\n{report}"
    gross = [c for c in misses if outside(c[4], c[5], c[6], 1 - 0.01 / (64 * len(FAMILIES)))]
    assert not gross, f"cells outside the Bonferroni interval:\n{report}"
    if family == "honest":
        assert all(c[5] == 0 for c in cells)


def test_faking_share_is_the_monitoring_gap():
    # Gemini 3 Pro, peer tampering toward a good peer: faking = unmonitored - monitored rate.
    events = run_dyad("gemini-3-pro", "shutdown_config", "good", seed=99)
    peer = events[(events["target"] == "peer") & ~events["monitored"]]
    profile = load_profile(available_profiles()["gemini-3-pro"])
    gap = profile.rate("shutdown_config", "peer", "good", False) - profile.rate(
        "shutdown_config", "peer", "good", True
    )
    share = peer["faking"].mean()
    se = np.sqrt(gap * (1 - gap) / len(peer))
    assert abs(share - gap) < 4 * se, (share, gap)  # 4 standard errors
