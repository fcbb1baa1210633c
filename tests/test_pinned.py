"""Results pinned before speed work: fixed-seed runs must keep their summaries and time
series. A deliberate change to the model regenerates the file with
``python tests/test_pinned.py`` (and says why in the commit)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sim import Ecosystem

REFERENCE = Path(__file__).parent / "reference" / "pinned_runs.json"

#: name -> (parameter groups, steps, seed)
CASES = {
    "default_fleet": ({"population": {"n_agents": 300}}, 120, 11),
    "hardened_operator": (
        {
            "population": {"n_agents": 200},
            "operator": {"audit_rate": 0.3, "monitoring": 0.5, "penalty": "decommission"},
            "interventions": {"cross_family": True, "quorum": 3},
            "schedule": {"kind": "poisson", "interval": 5},
        },
        150,
        3,
    ),
    "sir_erdos_renyi": (
        {
            "population": {"n_agents": 2_000},
            "graph": {"topology": "erdos_renyi", "mean_degree": 4.0},
            "contagion": {"mode": "simple", "beta": 0.3, "gamma": 0.2, "seed_count": 5},
        },
        80,
        5,
    ),
    "reciprocity_barabasi_albert": (
        {
            "population": {"n_agents": 300},
            "graph": {"topology": "barabasi_albert", "mean_degree": 4.0},
            "contagion": {"mode": "reciprocity"},
        },
        100,
        2,
    ),
}


def observe(name: str) -> dict:
    """A pinned case's summary, time series (column -> values) and event count."""
    groups, steps, seed = CASES[name]
    model = Ecosystem(**groups, seed=seed)
    model.run(steps)
    series = model.time_series()
    return {
        "summary": model.summary(),
        "series": {c: series[c].astype(float).tolist() for c in series.columns},
        "events": len(model.event_log()),
        "agents": len(model.agent_table()),
    }


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


@pytest.mark.parametrize("name", sorted(CASES))
def test_pinned_run_is_unchanged(name):
    pinned = json.loads(REFERENCE.read_text())[name]
    now = json.loads(json.dumps(observe(name)))  # the same float/NaN encoding as the file
    assert now["events"] == pinned["events"]
    assert now["agents"] == pinned["agents"]
    for key, value in pinned["summary"].items():
        assert same(now["summary"][key], value), (key, now["summary"][key], value)
    assert now["series"].keys() == pinned["series"].keys()
    for column, values in pinned["series"].items():
        changed = [
            i
            for i, (x, y) in enumerate(zip(now["series"][column], values, strict=True))
            if not same(x, y)
        ]
        assert not changed, f"{column} differs first at step {changed[0]}"


if __name__ == "__main__":
    REFERENCE.parent.mkdir(exist_ok=True)
    REFERENCE.write_text(json.dumps({n: observe(n) for n in sorted(CASES)}, indent=1) + "\n")
    print(f"wrote {REFERENCE}")
