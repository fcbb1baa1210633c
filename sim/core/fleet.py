"""The fleet's hot state: one entry per deployment slot, in numpy arrays.

A slot is a position in the trust graph that always holds exactly one active model;
when a model is decommissioned, its replacement takes the slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OVERSEER", "ROLES", "WORKER", "Fleet", "allocate", "category_counts", "role_counts"]

ROLES = ("worker", "overseer")
WORKER, OVERSEER = 0, 1


@dataclass
class Fleet:
    """Per-slot arrays of the active models.

    Attributes:
        families: family ids; ``family`` holds indices into it.
        family, role, quality, propensity, agent_id: the active model in each slot.
        designated_role: the role the slot was deployed for (a replacement gets it back
            after a demotion).
    """

    families: tuple[str, ...]
    family: np.ndarray
    designated_role: np.ndarray
    role: np.ndarray
    quality: np.ndarray
    propensity: np.ndarray
    agent_id: np.ndarray

    @property
    def n(self) -> int:
        """Number of slots."""
        return self.family.size


def category_counts(total: int, weights) -> np.ndarray:
    """How many of ``total`` items each category gets: ``weights`` shares as closely as
    integers allow (largest remainder; ties go to the earlier category)."""
    share = np.asarray(weights, float) / np.sum(weights) * total
    counts = np.floor(share).astype(np.int64)
    leftover = total - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:leftover]] += 1
    return counts


def role_counts(n: int, overseer_fraction: float) -> tuple[int, int]:
    """``(workers, overseers)`` in a fleet of ``n``, as :func:`allocate` deploys them."""
    workers, overseers = category_counts(n, [1 - overseer_fraction, overseer_fraction])
    return int(workers), int(overseers)


def allocate(total: int, weights, rng: np.random.Generator) -> np.ndarray:
    """Assign each of ``total`` items a category, :func:`category_counts` of each, in random
    order."""
    counts = category_counts(total, weights)
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))
