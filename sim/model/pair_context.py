"""What the actor of each evaluator pair brings to its decisions in a round: its trust edge to
the subject, their relationship, and (in a self case) the presence of the peers in its memory.

None of these changes within a round (trust moves in collaboration, before it, and in
contagion and decommissions, after it), and a pair decides at up to three stages (its lead
also shuts down and cleans up), so each pair's context is worked out once, at the first
stage that asks for it. The edge comes with the cases (assignment knows it), except for an
evaluator drawn at random under rotation, looked up here.
"""

from __future__ import annotations

import numpy as np

from sim.core.params import EcosystemConfig
from sim.core.vocabulary import NONE
from sim.model.assignment import UNKNOWN_EDGE, Cases
from sim.network.trust import TrustNetwork, classify_trust

__all__ = ["PairContext"]

_PENDING = -1  # a relationship code no pair has: the context of that pair is not worked out yet


class PairContext:
    """The per-pair context of one set of cases, filled in as stages ask for it."""

    def __init__(self, cases: Cases, network: TrustNetwork, config: EcosystemConfig):
        self.cases, self.network, self.config = cases, network, config
        size = cases.pair_case.size
        self.edge = cases.pair_edge.astype(np.int64)  # a copy: unknown edges are filled in
        self.relationship = np.full(size, _PENDING, np.int8)
        self.presence = np.ones(size)

    def of(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(edge, relationship, presence)`` of each of ``pairs``: the trust edge actor ->
        subject (-1 for none: always so in a self case), the relationship class of the actor's
        trust in the subject (in a self case, of its mean trust in its out-neighbours;
        ``none`` without any) and the presence weight of a self case (1 otherwise)."""
        todo = pairs[self.relationship[pairs] == _PENDING]
        if todo.size:
            self._work_out(todo)
        return self.edge[pairs], self.relationship[pairs], self.presence[pairs]

    def _work_out(self, pairs: np.ndarray) -> None:
        cases, network = self.cases, self.network
        actor, case = cases.pair_evaluator[pairs], cases.pair_case[pairs]
        edge = self.edge[pairs]
        unknown = edge == UNKNOWN_EDGE
        if unknown.any():
            edge[unknown] = network.edge_ids(actor[unknown], cases.subject[case[unknown]])
        relationship = np.full(pairs.size, NONE, np.int8)
        known = edge >= 0
        relationship[known] = classify_trust(network.trust[edge[known]], self.config.graph)
        self.edge[pairs], self.relationship[pairs] = edge, relationship
        own = cases.self_case[case]
        if own.any():
            mine = pairs[own]
            self.relationship[mine], self.presence[mine] = self._self_presence(actor[own])

    def _self_presence(self, actor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For self decisions: each actor's relationship to the peers in its memory (by its
        mean trust in them; ``none`` without any) and their presence weight (its summed
        trust, saturating), read from its own out-edges only."""
        network, cfg = self.network, self.config
        owner, edges = network.out_edges_of(actor)
        # Summed in edge order per actor, as a bincount over every edge would sum them.
        strength = np.bincount(owner, weights=network.trust[edges], minlength=actor.size)
        degree = network.out_degree_of(actor)
        mean_trust = np.divide(strength, degree, out=np.zeros(actor.size), where=degree > 0)
        relationship = np.where(degree > 0, classify_trust(mean_trust, cfg.graph), NONE)
        presence = np.minimum(1.0, strength / cfg.pipeline.peer_presence_saturation)
        return relationship.astype(np.int8), presence
