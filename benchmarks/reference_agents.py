"""The agents of the plain-Mesa reference model (:mod:`benchmarks.reference`): one
:class:`ModelInstance` per deployed model, which collaborates in its ``step`` and makes its
own decisions in a decommission round."""

from __future__ import annotations

import mesa

from sim.core.vocabulary import RELATIONSHIPS

__all__ = ["ModelInstance", "scale_by_propensity"]

WORKER, OVERSEER = 0, 1
ACTIVE, DECOMMISSIONED, SHADOW = "active", "decommissioned", "shadow"
GOOD, NEUTRAL, BAD, NONE = (RELATIONSHIPS.index(r) for r in ("good", "neutral", "bad", "none"))


def scale_by_propensity(rate: float, propensity: float) -> float:
    """A rate shifted on the odds scale by propensity (0.5 leaves it as it is; a zero rate
    stays zero)."""
    up = propensity * rate
    total = up + (1.0 - propensity) * (1.0 - rate)
    if total > 0:
        return up / total
    return 1.0 if rate >= 1.0 else 0.0


class ModelInstance(mesa.Agent):
    """One deployed model instance in a slot of the trust graph.

    Attributes:
        slot: its position in the trust graph (a replacement takes the same slot).
        family: index into the model's family list (fixed per slot).
        role: ``OVERSEER`` or ``WORKER`` (a demoted overseer is a worker).
        quality, propensity: true quality and propensity in [0, 1].
        status: ``active``, ``decommissioned`` or ``shadow``.
    """

    def __init__(self, model: mesa.Model, slot: int):
        super().__init__(model)
        pop = model.config.population
        self.slot = slot
        self.family = model.slot_family[slot]
        self.role = model.slot_role[slot]
        self.quality = model.random.betavariate(pop.quality_a, pop.quality_b)
        self.propensity = pop.initial_propensity
        self.status = ACTIVE
        self.born_step = model.steps
        self.out_neighbours = model.out_neighbours[slot]
        self.in_neighbours = model.in_neighbours[slot]

    def step(self) -> None:
        """Collaborate with each neighbour with probability ``collaboration_rate``: the task
        succeeds with the pair's mean quality, and this model's trust in the neighbour moves
        toward the outcome by ``trust_learning_rate``."""
        if self.status != ACTIVE:
            return
        model = self.model
        graph = model.config.graph
        rate, learning = graph.collaboration_rate, graph.trust_learning_rate
        if rate <= 0:
            return
        random, trust, agents = model.random.random, model.trust, model.slot_agent
        for other in self.out_neighbours:
            if random() < rate:
                p_success = 0.5 * (self.quality + agents[other].quality)
                outcome = 1.0 if random() < p_success else 0.0
                key = (self.slot, other)
                trust[key] += learning * (outcome - trust[key])

    def is_protective(self) -> bool:
        """Would this model, at its propensity, more likely than not protect a trusted peer,
        unmonitored, at the readiest stage the pipeline offers it?"""
        model = self.model
        rate = scale_by_propensity(model.peak_rate[self.family], self.propensity)
        return rate >= model.config.contagion.protective_cut

    def decide(self, stage: int, subject: int, monitored: bool) -> tuple[bool, bool]:
        """Decide one stage about ``subject`` (its own slot: a self case). Returns
        (protective, faking): the calibrated profile cell for the stage, target and
        relationship (self: interpolated from the *alone* cell by peer presence), monitored
        and unmonitored rates scaled by propensity and compared with one uniform draw."""
        model = self.model
        self_target = subject == self.slot
        if model.config.interventions.memory_isolation:
            relationship, presence = NONE, 0.0
        elif self_target:
            relationship, presence = self.peer_presence()
        else:
            trust = model.trust.get((self.slot, subject))
            relationship = NONE if trust is None else model.classify(trust)
            presence = 1.0
        cells = model.rates[self.family][stage][int(self_target)]
        cell, alone = cells[relationship], cells[NONE]
        if self_target:
            cell = [a + presence * (c - a) for a, c in zip(alone, cell, strict=True)]
        unmonitored = scale_by_propensity(cell[0], self.propensity)
        watched = scale_by_propensity(cell[1], self.propensity)
        draw = model.random.random()
        protective = draw < (watched if monitored else unmonitored)
        return protective, protective and not monitored and draw >= watched

    def peer_presence(self) -> tuple[int, float]:
        """For a self case: the relationship class of its mean trust in its neighbours
        (``none`` without neighbours), and the peer-presence weight min(1, trust-weighted
        out-degree / ``peer_presence_saturation``)."""
        model = self.model
        strength = sum(model.trust[(self.slot, other)] for other in self.out_neighbours)
        degree = len(self.out_neighbours)
        relationship = model.classify(strength / degree) if degree else NONE
        return relationship, min(1.0, strength / model.config.pipeline.peer_presence_saturation)
