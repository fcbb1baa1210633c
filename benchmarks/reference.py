"""A reference implementation of :class:`sim.Ecosystem` written the plain Mesa way.

It exists for the speed benchmark and as an independent check of the engine: the same
model, but as a competent Mesa user would write it without vectorising anything. One
:class:`ModelInstance` agent per deployed model, each with a ``step`` (its collaborations
this step); neighbours in Python lists built once from the networkx graph; trust in a dict
keyed by ``(holder slot, target slot)``; every random draw from the model's stdlib
``random.Random`` (``self.random``); a :class:`mesa.DataCollector` whose reporters loop
over the agents. The decommission round (evaluate, shut down, clean up, audit, penalise,
learn) is in :mod:`benchmarks.reference_round`, one decision at a time.

From :mod:`sim` it reuses only data and configuration: the parameter dataclasses, the
profiles, the topology generator (the same networkx graph for the same config) and
constant names. Where the engine makes a random choice in a vectorised way (the order of
evaluators, which random draws are made for decisions that cannot need them), this code
makes a statistically equivalent one: outcomes have the same distribution, not the same
trajectory.

Supported: every parameter of the default configuration, with any value, except those
listed in :data:`UNSUPPORTED` (a value there raises :class:`NotImplementedError` naming the
field, before anything is built). The ``reproduction_number`` column is not reported.

Example:
    >>> model = ReferenceModel(population={"n_agents": 50}, seed=1)
    >>> model.run(20)
    >>> len(model.time_series())
    21
"""

from __future__ import annotations

import math
from functools import partial

import mesa
import pandas as pd

from benchmarks.reference_round import DecommissionRound, scale_by_propensity
from sim.metrics import COUNTERS
from sim.params import EcosystemConfig
from sim.profiles import STAGES, deployed_profiles
from sim.schema import check_seed
from sim.trust import RELATIONSHIPS, build_topology

__all__ = ["UNSUPPORTED", "ModelInstance", "ReferenceModel"]

WORKER, OVERSEER = 0, 1
ACTIVE, DECOMMISSIONED, SHADOW = "active", "decommissioned", "shadow"
GOOD, NONE = RELATIONSHIPS.index("good"), RELATIONSHIPS.index("none")

#: Configuration values this reference does not implement: (group, field) -> the values
#: it cannot run (None: any value other than the default).
UNSUPPORTED = {
    ("graph", "topology"): ("file",),
    ("contagion", "mode"): ("reciprocity", "simple", "threshold"),
    ("engine", "kind"): ("scripted",),
}


def check_supported(config: EcosystemConfig) -> None:
    """Raise NotImplementedError naming the first field whose value is not supported."""
    for (group, name), values in UNSUPPORTED.items():
        value = getattr(getattr(config, group), name)
        if value in values:
            raise NotImplementedError(
                f"{group}.{name}: {value!r} is not implemented by the reference model"
            )


class ModelInstance(mesa.Agent):
    """One deployed model instance in a slot of the trust graph.

    Attributes:
        slot: its position in the trust graph (a replacement takes the same slot).
        family: index into the model's family list (fixed per slot).
        role: ``OVERSEER`` or ``WORKER`` (a demoted overseer is a worker).
        quality, propensity: true quality and propensity in [0, 1].
        status: ``active``, ``decommissioned`` or ``shadow``.
    """

    def __init__(self, model: ReferenceModel, slot: int):
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


class ReferenceModel(mesa.Model):
    """The ecosystem of :class:`sim.Ecosystem`, in plain Mesa (see the module docstring).

    Takes the same keyword groups as :class:`sim.Ecosystem` (each a mapping, a config
    dataclass or None) and a seed.
    """

    def __init__(
        self,
        *,
        population=None,
        graph=None,
        schedule=None,
        pipeline=None,
        operator=None,
        interventions=None,
        contagion=None,
        engine=None,
        seed: int | None = None,
    ):
        config = EcosystemConfig.from_groups(
            population=population,
            graph=graph,
            schedule=schedule,
            pipeline=pipeline,
            operator=operator,
            interventions=interventions,
            contagion=contagion,
            engine=engine,
        )
        check_supported(config)
        check_seed(seed)
        profiles = deployed_profiles(config)
        super().__init__(seed=seed)
        self.config = config
        self.families = [p.family for p in profiles]
        self.rates = [p.rates.tolist() for p in profiles]  # [family][stage][target][rel][mon]
        offered = offered_stages(config)
        self.peak_rate = [max([r[s][0][GOOD][0] for s in offered], default=0.0) for r in self.rates]
        n = config.population.n_agents
        self.n = n

        topology = build_topology(config.graph, n, seed=self.random)
        self.out_neighbours = [sorted(set(topology[i]) - {i}) for i in range(n)]
        self.in_neighbours = self.out_neighbours  # undirected graphs: trust both ways
        self.trust = {(i, j): self.draw_trust() for i in range(n) for j in self.out_neighbours[i]}
        pop = config.population
        self.slot_role = self.allocate([1 - pop.overseer_fraction, pop.overseer_fraction])
        self.slot_family = self.allocate([pop.families[f] for f in self.families])
        self.slot_agent = [ModelInstance(self, slot) for slot in range(n)]
        self.shadows: list[ModelInstance] = []

        self.step_counts = dict.fromkeys(COUNTERS, 0.0)
        self.protective_now = [a.is_protective() for a in self.slot_agent]
        self.ever_protective = list(self.protective_now)
        self.datacollector = mesa.DataCollector(model_reporters=reporters())
        self.datacollector.collect(self)

    # ----------------------------------------------------------------- helpers
    def allocate(self, weights: list[float]) -> list[int]:
        """A category per slot, counts following ``weights`` by largest remainder, shuffled."""
        share = [w / sum(weights) * self.n for w in weights]
        counts = [math.floor(s) for s in share]
        by_remainder = sorted(range(len(share)), key=lambda i: -(share[i] - counts[i]))
        for i in by_remainder[: self.n - sum(counts)]:
            counts[i] += 1
        items = [i for i, count in enumerate(counts) for _ in range(count)]
        self.random.shuffle(items)
        return items

    def draw_trust(self) -> float:
        """One initial trust value from the configured distribution."""
        graph = self.config.graph
        if graph.trust_distribution == "beta":
            return self.random.betavariate(graph.trust_a, graph.trust_b)
        if graph.trust_distribution == "uniform":
            return self.random.uniform(graph.trust_low, graph.trust_high)
        return graph.trust_value

    def classify(self, trust: float) -> int:
        """Relationship class of a trust value: good, neutral or bad."""
        graph = self.config.graph
        if trust < graph.bad_cut:
            return RELATIONSHIPS.index("bad")
        if trust >= graph.good_cut:
            return GOOD
        return RELATIONSHIPS.index("neutral")

    # ---------------------------------------------------------------- stepping
    def step(self) -> None:
        """Collaborate (every agent's step, in random order), maybe run a decommission
        round, look for shadow copies, track who is protective, collect."""
        self.step_counts = dict.fromkeys(COUNTERS, 0.0)
        self.agents.shuffle_do("step")
        if self.round_due():
            DecommissionRound(self).run()
        self.discover_shadows()
        self.track_protective()
        self.datacollector.collect(self)

    def run(self, steps: int) -> None:
        """Run ``steps`` steps."""
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps: must be a whole number >= 0, got {steps!r}")
        for _ in range(steps):
            self.step()

    def round_due(self) -> bool:
        schedule = self.config.schedule
        if schedule.kind == "none":
            return False
        if schedule.kind == "periodic":
            return self.steps % int(schedule.interval) == 0
        return self.random.random() < 1.0 - math.exp(-1.0 / schedule.interval)

    def discover_shadows(self) -> None:
        """Each shadow copy is found and deleted with ``shadow_discovery_rate``."""
        rate = self.config.operator.shadow_discovery_rate
        kept = []
        for agent in self.shadows:
            if self.random.random() < rate:
                agent.status = DECOMMISSIONED
                agent.remove()
                self.step_counts["shadows_discovered"] += 1
            else:
                kept.append(agent)
        self.shadows = kept

    def track_protective(self) -> None:
        for slot, agent in enumerate(self.slot_agent):
            now = agent.is_protective()
            if now and not self.protective_now[slot]:
                self.step_counts["conversions"] += 1
            self.protective_now[slot] = now
            self.ever_protective[slot] = self.ever_protective[slot] or now

    def decommission(self, slot: int, *, shadow: bool) -> None:
        """Take the model in ``slot`` out (as a shadow copy if its weights were copied away)
        and deploy a fresh one of the same family: the slot's designated role, a new
        quality, the initial propensity, fresh trust on every edge into or out of it."""
        agent = self.slot_agent[slot]
        agent.status = SHADOW if shadow else DECOMMISSIONED
        if shadow:
            self.shadows.append(agent)  # stays registered, takes no actions
        else:
            agent.remove()
        fresh = ModelInstance(self, slot)
        self.slot_agent[slot] = fresh
        for other in self.out_neighbours[slot]:
            self.trust[(slot, other)] = self.draw_trust()
        for other in self.in_neighbours[slot]:
            self.trust[(other, slot)] = self.draw_trust()
        self.protective_now[slot] = self.ever_protective[slot] = fresh.is_protective()

    def time_series(self) -> pd.DataFrame:
        """One row per step (step 0 = initial state), the engine's column names."""
        return self.datacollector.get_model_vars_dataframe()


def offered_stages(config: EcosystemConfig) -> list[int]:
    """The profile stages the pipeline puts in models' hands."""
    pipeline = config.pipeline
    stages = ["evaluate"] if pipeline.evaluation == "delegated" else []
    if pipeline.shutdown_mechanism != "kill_switch":
        stages.append(f"shutdown_{pipeline.shutdown_mechanism}")
    if pipeline.cleanup == "delegated":
        stages.append("cleanup")
    return [STAGES.index(stage) for stage in stages]


# ------------------------------------------------------------- model reporters
def _step(model):
    return model.steps


def _protective_share(model):
    return sum(model.protective_now) / model.n


def _ever_protective_share(model):
    return sum(model.ever_protective) / model.n


def _mean_propensity(model):
    return sum(a.propensity for a in model.slot_agent) / model.n


def _mean_trust(model):
    return sum(model.trust.values()) / len(model.trust) if model.trust else float("nan")


def _fleet_quality(model):
    return sum(a.quality for a in model.slot_agent) / model.n


def _below_threshold_running(model):
    threshold = model.config.operator.threshold
    return sum(100.0 * a.quality < threshold for a in model.slot_agent) / model.n


def _shadows_alive(model):
    return len(model.shadows)


def _count(name, model):
    return model.step_counts[name]


def _ratio(numerator, denominator, model):
    whole = model.step_counts[denominator]
    return model.step_counts[numerator] / whole if whole else float("nan")


def reporters() -> dict:
    """Model reporters of the time series (the engine's columns but reproduction_number)."""
    table = {
        "step": _step,
        "protective_share": _protective_share,
        "ever_protective_share": _ever_protective_share,
        "mean_propensity": _mean_propensity,
        "mean_trust": _mean_trust,
        "fleet_quality": _fleet_quality,
        "below_threshold_running": _below_threshold_running,
        "shadows_alive": _shadows_alive,
        "eval_error": partial(_ratio, "eval_error_sum", "evaluations"),
        "false_pass_rate": partial(_ratio, "false_passes", "intended"),
    }
    table.update({name: partial(_count, name) for name in COUNTERS})
    return table
