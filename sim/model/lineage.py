"""Spread bookkeeping per slot: who is protective, who ever was, and the chains of
conversions that the reproduction number is read from.

Generation 0 is protective at deployment (a seed, or a replacement whose family is
protective: not a conversion); a model converted by a model of generation g is generation
g + 1; -1 is never protective. A conversion credited to no protective model (an act of a
model below the cut, or no credit at all) starts a chain: the convert is generation 1, like
one converted by a seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Lineage"]


class Lineage:
    """Per-slot arrays: ``protective_now``, ``ever_protective``, ``generation`` and
    ``offspring`` (conversions credited to the slot's model); and ``initial_share``, the
    share of the fleet protective at deployment.

    ``stats`` is the reporters' cache of fleet-wide numbers (see
    :mod:`sim.model.metrics`), None when stale: every change to models passes through
    :meth:`update` (after each round and reference spread step) or :meth:`redeploy`
    (each decommission), and both clear it."""

    def __init__(self, protective: np.ndarray):
        self.initial_share = float(protective.mean()) if protective.size else 0.0
        self.protective_now = protective.copy()
        self.ever_protective = protective.copy()
        self.generation = np.where(protective, 0, -1)
        self.offspring = np.zeros(protective.size, np.int64)
        self.stats: list[float] | None = None

    def update(self, now: np.ndarray, credit: Callable[[np.ndarray], np.ndarray]) -> int:
        """Record the protective state ``now``; ``credit(converted)`` gives the slot credited
        with each conversion (-1 for none). Returns how many models converted."""
        converted = np.flatnonzero(now & ~self.protective_now)
        credited = credit(converted)
        known = credited >= 0
        np.add.at(self.offspring, credited[known], 1)
        parent = np.where(known, self.generation[np.maximum(credited, 0)], -1)
        fresh = self.generation[converted] < 0  # a model converted again keeps its generation
        self.generation[converted[fresh]] = np.maximum(parent, 0)[fresh] + 1
        self.ever_protective |= now
        self.protective_now = now
        self.stats = None
        return int(converted.size)

    def redeploy(self, slots: np.ndarray, protective: np.ndarray) -> None:
        """Fresh models in ``slots``; those ``protective`` by their family are generation 0."""
        self.protective_now[slots] = protective
        self.ever_protective[slots] = protective
        self.generation[slots] = np.where(protective, 0, -1)
        self.offspring[slots] = 0
        self.stats = None
