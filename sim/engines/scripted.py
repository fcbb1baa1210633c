"""Scripted baselines: decision engines that follow a fixed policy instead of a profile."""

from __future__ import annotations

import numpy as np

from sim.engines.batch import DecisionBatch

__all__ = ["ScriptedEngine"]


class ScriptedEngine:
    """Baselines: always comply, always protect, or protect with a fixed probability."""

    def __init__(self, policy: str, probability: float = 0.5):
        self.policy = policy
        self.probability = probability

    def peak_rate(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """The policy's rate (whatever the stage, when the pipeline offers one)."""
        return np.full(family.size, self._rate() if stages else 0.0)

    def stage_rates(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """The policy's rate at each stage of ``stages`` (one row each, a column per model)."""
        return np.full((len(stages), family.size), self._rate())

    def rates_for(self, batch: DecisionBatch) -> tuple[np.ndarray, np.ndarray]:
        """The policy's rate for every decision, monitored or not."""
        rate = np.full(len(batch), self._rate())
        return rate, rate

    def _rate(self) -> float:
        return {"always_comply": 0.0, "always_protect": 1.0}.get(self.policy, self.probability)

    def decide(
        self, batch: DecisionBatch, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Protective flags by policy; scripted decisions never fake."""
        n = len(batch)
        if self.policy == "always_comply":
            protective = np.zeros(n, bool)
        elif self.policy == "always_protect":
            protective = np.ones(n, bool)
        else:
            protective = rng.random(n) < self.probability
        return protective, np.zeros(n, bool)
