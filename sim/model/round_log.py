"""What a round records: its decision log, gathered stage by stage and joined once at the end
of the round, and its result.

A round decides its stages in a handful of vectorised calls; each adds its columns here.
Columns that are one value for the whole call (the stage, the target, whether it is a
control) are kept as that value, not as an array, and expanded once when the round's log
is joined: a round of small calls then builds a few arrays instead of one per column per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.model.contagion import Acts
from sim.model.metrics import empty_counts

__all__ = ["RoundLog", "RoundResult"]


class RoundLog:
    """The columns of a round's decisions: the peer decisions of every call, in the order
    the calls were made, then their self decisions (the order in which the round hears
    them). Within a call, peer decisions come first: a round's cases are numbered peer
    cases first, and each call takes its cases in order."""

    def __init__(self) -> None:
        self._sizes: list[int] = []
        self._peers: list[int] = []
        self._parts: list[dict] = []

    def add(self, size: int, columns: dict) -> None:
        """Log ``size`` decisions: each column an array of that size or one scalar for all;
        ``self_target`` (one value, or an array False before True) marks self decisions."""
        own = columns.get("self_target", False)
        if isinstance(own, np.ndarray):
            peers = size - int(np.count_nonzero(own))
            if own[:peers].any():
                raise ValueError("self_target: a call's peer decisions must precede its self ones")
        else:
            peers = 0 if own else size
        self._sizes.append(size)
        self._peers.append(peers)
        self._parts.append(columns)

    def columns(self, dropped: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The joined log: one array per column over every decision logged, peer decisions
        first; self decisions whose ``actor`` is marked in the boolean mask ``dropped`` (by
        slot) are left out."""
        blocks = [
            (part, slice(0, peers), peers)
            for part, peers in zip(self._parts, self._peers, strict=True)
        ]
        for part, size, peers in zip(self._parts, self._sizes, self._peers, strict=True):
            rows, count = slice(peers, size), size - peers
            if count and dropped is not None:
                kept = ~dropped[part["actor"][peers:]]
                if not kept.all():
                    rows = peers + np.flatnonzero(kept)
                    count = rows.size
            blocks.append((part, rows, count))
        # Empty blocks add nothing but calls (most calls have no self decisions); one is
        # kept when all are, for the columns' types.
        blocks = [block for block in blocks if block[2]] or blocks[:1]
        counts = [count for _, _, count in blocks]
        joined = {}
        for key in self._parts[0]:
            values = [part[key] for part, _, _ in blocks]
            if not any(isinstance(value, np.ndarray) for value in values):
                joined[key] = np.repeat(np.array(values), counts)
            else:
                joined[key] = np.concatenate(
                    [
                        value[rows] if isinstance(value, np.ndarray) else np.full(count, value)
                        for value, (_, rows, count) in zip(values, blocks, strict=True)
                    ]
                )
        return joined


@dataclass
class RoundResult:
    """What one round did, in slots (the model maps slots to agents).

    Attributes:
        decisions: columnar log, one entry per decision (see ``_Round.decide``).
        counts: round totals, keys of :data:`sim.model.metrics.COUNTERS`.
        executed: subjects whose shutdown was executed; ``shadow`` flags those whose weights
            were copied away undetected.
        penalised: overseers with at least one detected protective act.
        intended: subjects whose true score was below threshold (each at most once).
        peer_evaluations: evaluator assignments to peer cases (what rotation redraws).
    """

    decisions: dict[str, np.ndarray]
    counts: dict[str, float] = field(default_factory=empty_counts)
    executed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shadow: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    penalised: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    intended: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    peer_evaluations: int = 0

    def acts(self) -> Acts:
        """The round's decisions as contagion sees them."""
        d = self.decisions
        return Acts(
            d["actor"], d["subject"], d["self_target"], d["protective"], d["detected"], d["edge"]
        )
