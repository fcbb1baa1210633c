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

import mesa
import pandas as pd

from benchmarks.reference_agents import (
    BAD,
    DECOMMISSIONED,
    GOOD,
    NEUTRAL,
    SHADOW,
    ModelInstance,
)
from benchmarks.reference_metrics import offered_stages, reporters
from benchmarks.reference_round import DecommissionRound
from sim.core.params import EcosystemConfig
from sim.core.schema import check_seed
from sim.engines.profiles import deployed_profiles
from sim.model.metrics import COUNTERS
from sim.network.trust import build_topology

__all__ = ["UNSUPPORTED", "ModelInstance", "ReferenceModel"]

#: Configuration values this reference does not implement: (group, field) -> the values
#: it cannot run.
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
            return BAD
        if trust >= graph.good_cut:
            return GOOD
        return NEUTRAL

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
