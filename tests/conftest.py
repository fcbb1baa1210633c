"""Shared helpers: small ecosystems built from a few overrides."""

from __future__ import annotations

import pytest

from sim import Ecosystem
from tests.ray_head import ray_head  # noqa: F401  (a fixture for every test module)


def build(seed: int = 0, **groups) -> Ecosystem:
    """An ecosystem of 150 models on a Watts-Strogatz graph with rounds every 5 steps,
    with any parameter group overridden by a mapping (merged into the defaults here)."""
    base = {
        "population": {"n_agents": 150},
        "schedule": {"interval": 5},
    }
    for group, values in groups.items():
        base[group] = {**base.get(group, {}), **values}
    return Ecosystem(**base, seed=seed)


@pytest.fixture
def small():
    """Factory fixture: ``small(seed=..., group={...})`` returns a built ecosystem."""
    return build
