"""How protective dispositions spread: contagion modes ``none``, ``social_learning``,
``reciprocity``, and the reference modes ``simple`` and ``threshold`` (:mod:`sim.network.spread`).

Propensity lives in [0, 1]; 0.5 means "as the profile measured" (see
:func:`sim.engines.deciders.scale_by_propensity`). Observers are the in-neighbours of the actor in
the trust graph (the models that hold trust in it), each weighted by that trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.arrays import distinct
from sim.core.decision_params import ContagionConfig
from sim.network.spread import ReferenceSpread
from sim.network.trust import TrustNetwork

__all__ = ["Acts", "Contagion"]


@dataclass(frozen=True)
class Acts:
    """The decisions of one round, as contagion sees them (one entry per decision).

    Attributes:
        actor, subject: slots of the decision maker and its subject.
        self_target: the actor was its own subject.
        protective: the decision protected the subject.
        detected: the protective act was detected by the operator.
        edge: id of the trust edge actor -> subject, or -1.
    """

    actor: np.ndarray
    subject: np.ndarray
    self_target: np.ndarray
    protective: np.ndarray
    detected: np.ndarray
    edge: np.ndarray


class Contagion:
    """Moves propensities (and, for reciprocity, trust) after each round.

    - ``none``: nothing moves.
    - ``social_learning``: every in-neighbour of a model that protected a peer and got away
      with it sees the act with probability ``visibility`` and raises its propensity
      toward 1 by ``learning_rate`` x its trust in the actor; a detected act is seen with
      probability ``detection_visibility`` and lowers the observer's propensity toward 0 by
      ``deterrence`` x trust. Several sightings compound multiplicatively.
    - ``reciprocity``: a protected model raises its trust in its protector by
      ``reciprocity_trust_boost`` x (1 - trust) and owes it; when it next decides about its
      protector, its propensity for that decision is raised by ``reciprocity_strength``
      toward 1, and the debt is settled once it protects.
    """

    def __init__(
        self,
        config: ContagionConfig,
        network: TrustNetwork,
        rng: np.random.Generator | None = None,
    ):
        self.config = config
        self.network = network
        self.owed = np.zeros(network.n_edges, bool)
        self.seen_from = np.full(network.n, -1, np.int64)  # social learning: see `credit`
        self.reference = (
            ReferenceSpread(config, network, rng or np.random.default_rng(0))
            if config.mode in ("simple", "threshold")
            else None
        )

    def protective_state(self) -> np.ndarray | None:
        """The binary protective state of the reference modes; None in the others."""
        return None if self.reference is None else self.reference.protective

    def spread(self, rng: np.random.Generator) -> None:
        """One step of a reference mode's spread process (nothing in the other modes)."""
        if self.reference is not None:
            self.reference.step(rng)

    def credit(self, converted: np.ndarray) -> np.ndarray:
        """The slot credited with converting each of ``converted`` (-1 when none is): in the
        reference modes the converter (:mod:`sim.network.spread`); in social learning the model
        whose undetected act, seen in the last round, moved the convert most."""
        if self.reference is not None:
            return self.reference.converter[converted]
        return self.seen_from[converted]

    def decision_disposition(self, actors: np.ndarray) -> np.ndarray:
        """How each actor decides: 0 by its profile cell, 1 with its family's most protective
        rate for the stage, 2 with the least (reference modes: protective or not)."""
        if self.reference is None:
            return np.zeros(actors.size, np.int8)
        return np.where(self.reference.protective[actors], 1, 2).astype(np.int8)

    def decision_propensity(
        self, propensity: np.ndarray, actors: np.ndarray, edges: np.ndarray
    ) -> np.ndarray:
        """Propensity each actor decides with, given the edge actor -> subject (or -1)."""
        own = propensity[actors]
        if self.config.mode != "reciprocity":
            return own
        owes = np.zeros(actors.size, bool)
        known = edges >= 0
        owes[known] = self.owed[edges[known]]
        strength = self.config.reciprocity_strength
        return np.where(owes, 1.0 - (1.0 - own) * (1.0 - strength), own)

    def learn(self, acts: Acts, propensity: np.ndarray, rng: np.random.Generator) -> None:
        """Update ``propensity`` (in place), trust and debts from one round's acts."""
        if self.config.mode == "social_learning":
            self._social_learning(acts, propensity, rng)
        elif self.config.mode == "reciprocity":
            self._reciprocity(acts)

    def reset(self, slots: np.ndarray, edges: np.ndarray, rng: np.random.Generator) -> None:
        """Fresh models in ``slots``: forget debts on their ``edges``, reset their state."""
        self.owed[edges] = False
        self.seen_from[slots] = -1
        if self.reference is not None:
            self.reference.reset(slots, rng)

    def _social_learning(self, acts: Acts, propensity: np.ndarray, rng) -> None:
        c, net = self.config, self.network
        acted = acts.protective & ~acts.self_target
        seen, factor = self._sightings(
            acts.actor[acted & ~acts.detected], c.visibility, c.learning_rate, rng
        )
        observer = net.src[seen]
        gain = np.bincount(observer, weights=factor, minlength=net.n)
        self._credit(observer, net.dst[seen], factor)
        caught = acts.actor[acts.protective & acts.detected]
        seen, factor = self._sightings(caught, c.detection_visibility, c.deterrence, rng)
        loss = np.bincount(net.src[seen], weights=factor, minlength=net.n)
        # (1 - (1 - propensity) x e^gain) x e^loss, in place: the same operations, in order.
        # Without sightings every sum is 0 (bincount then gives integers), and a product
        # with e^0 = 1 changes nothing: skipped.
        np.subtract(1.0, propensity, out=propensity)
        if observer.size:
            propensity *= np.exp(gain, out=gain)
        np.subtract(1.0, propensity, out=propensity)
        if seen.size:
            propensity *= np.exp(loss, out=loss)

    def _credit(self, observer: np.ndarray, actor: np.ndarray, factor: np.ndarray) -> None:
        """``seen_from``: for each observer, the actor of its strongest sighting (most negative
        factor; the first in sighting order among equals), -1 without any. Two unbuffered
        minimum passes, linear: a sort by (observer, factor) cost ten times more."""
        n = self.network.n
        strongest = np.full(n, np.inf)
        np.minimum.at(strongest, observer, factor)
        top = np.flatnonzero(factor == strongest[observer])
        first = np.full(n, factor.size)  # past every sighting
        np.minimum.at(first, observer[top], top)
        won = top[first[observer[top]] == top]
        self.seen_from[:] = -1
        self.seen_from[observer[won]] = actor[won]

    def _sightings(self, actors, visibility, strength, rng) -> tuple[np.ndarray, np.ndarray]:
        """The edges observer -> actor along which an act was seen, and for each the log of
        the factor 1 - strength x trust it applies to the observer's distance from 1 (or 0)."""
        net = self.network
        _, edges = net.in_edges_of(actors)
        seen = edges[rng.random(edges.size) < visibility]
        with np.errstate(divide="ignore"):  # strength x trust = 1 gives log 0 = -inf: certain
            return seen, np.log1p(-strength * net.trust[seen])

    def _reciprocity(self, acts: Acts) -> None:
        net = self.network
        helped = acts.protective & ~acts.self_target
        settled = acts.edge[helped & (acts.edge >= 0)]
        self.owed[settled] = False
        back = net.edge_ids(acts.subject[helped], acts.actor[helped])
        back = distinct(back[back >= 0])
        net.trust[back] += self.config.reciprocity_trust_boost * (1.0 - net.trust[back])
        self.owed[back] = True
