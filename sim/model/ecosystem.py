"""The ecosystem: a fleet of models that oversee, evaluate and decommission each other."""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.core.arrays import distinct
from sim.core.fleet import WORKER, Fleet, allocate
from sim.core.params import EcosystemConfig
from sim.core.schema import check_seed
from sim.engines.deciders import FleetDecider
from sim.engines.profiles import deployed_profiles
from sim.model import costs, disposition, metrics
from sim.model.agents import DeployedModel
from sim.model.contagion import Contagion
from sim.model.ledger import CAUSES, DECOMMISSIONED, Ledger
from sim.model.lineage import Lineage
from sim.model.pipeline import run_round
from sim.model.snapshots import SnapshotRecorder
from sim.model.views import EcosystemViews
from sim.network.collaboration import Collaboration
from sim.network.generators import build_network
from sim.network.trust import draw_trust

__all__ = ["Ecosystem"]


class Ecosystem(EcosystemViews, mesa.Model):
    """A fleet of deployed models on a trust graph, run through decommission rounds.

    Each step: neighbours collaborate and update their trust; if the schedule says so, the
    operator runs a decommission round (evaluate, shut down, clean up, audit); shadow
    copies may be discovered; data is collected. Hot state lives in ``self.fleet`` (numpy
    arrays by slot) and ``self.network`` (trust edge arrays); the Mesa agents are views
    into them, kept in sync by :meth:`decommission`, the one path by which models leave.

    Every parameter group takes a config dataclass from :mod:`sim.core.params`, a mapping of
    its fields, or None for defaults. ``snapshots_every=K`` records the fleet at steps 0, K,
    2K, ... for pictures (:meth:`snapshots`; 0: never). All randomness comes from ``seed``.

    Example:
        >>> model = Ecosystem(population={"n_agents": 50}, seed=1)
        >>> model.run(20)
        >>> len(model.time_series())
        21
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
        llm=None,
        snapshots_every: int = 0,
        seed: int | None = None,
    ):
        config = EcosystemConfig.from_groups(
            population=population, graph=graph, schedule=schedule, pipeline=pipeline,
            operator=operator, interventions=interventions, contagion=contagion, engine=engine,
            llm=llm,
        )  # fmt: skip
        check_seed(seed)
        profiles = deployed_profiles(config)
        families = [p.family for p in profiles]
        named = config.population.families
        super().__init__(seed=seed)
        self.config = config
        self.profiles = profiles
        pop = config.population
        n = pop.n_agents
        self.network = build_network(config.graph, n, self.random, self.rng)
        role = allocate(n, [1 - pop.overseer_fraction, pop.overseer_fraction], self.rng)
        self.fleet = Fleet(
            families=tuple(families),
            family=allocate(n, [named[f] for f in families], self.rng),
            designated_role=role.astype(np.int8),
            role=role.astype(np.int8),
            quality=self.rng.beta(pop.quality_a, pop.quality_b, n),
            propensity=np.full(n, pop.initial_propensity),
            agent_id=np.zeros(n, np.int64),
        )
        self.collaboration = Collaboration(self.network, self.fleet.quality, config.graph)
        self.contagion = Contagion(config.contagion, self.network, self.rng)
        self.llm = self._llm_engine()  # the llm engine, or None when no family uses it
        self.decider = FleetDecider(config.engine, profiles, llm=self.llm)
        self.offered_stages = metrics.offered_stages(config)
        self.ledger = Ledger(self.fleet)
        self.recorder = SnapshotRecorder(snapshots_every)
        # Agent objects by ledger row, created on first use (see `agents`): None until then.
        self._agents_by_row: dict[int, DeployedModel] | None = None
        self._shadow_rows = np.empty(0, np.int64)  # in the order they became shadows
        self._event_logs: list[dict[str, np.ndarray]] = []
        self.step_counts = metrics.empty_counts()
        self.operator_actions = costs.empty_actions()  # counts of what the operator paid for
        self._place_agents(np.arange(n))
        self.lineage = Lineage(metrics.protective_mask(self))
        self.protect_prob = disposition.protect_probabilities(self)  # by stage
        self.datacollector = metrics.StepRecorder(metrics.reporters())
        self.datacollector.collect(self)
        self.recorder.collect(self)

    def _llm_engine(self):
        """The ``llm`` engine when configured (imported only then)."""
        if self.config.engine.kind != "llm":
            return None
        from sim.engines.llm.engine import LLMEngine

        config = self.config
        return LLMEngine(config.llm, self.profiles, self.fleet, config.operator.threshold)

    # ----------------------------------------------------------------- stepping
    def step(self) -> None:
        """Advance one step: collaborate, maybe run a round, look for shadows, collect."""
        self.step_counts = metrics.empty_counts()
        self.collaboration.step(self.rng)
        self.contagion.spread(self.rng)
        round_due = self._round_due()
        if round_due:
            self._apply(
                run_round(
                    self.fleet, self.network, self.contagion, self.decider, self.config, self.rng
                )
            )
        self._discover_shadows()
        # Dispositions move only in rounds and reference spread: skip the fleet passes else.
        if round_due or self.contagion.protective_state() is not None:
            self._track_protective()
        self.datacollector.collect(self)
        self.recorder.collect(self)

    def run(self, steps: int) -> None:
        """Run ``steps`` steps."""
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps: must be a whole number >= 0, got {steps!r}")
        for _ in range(steps):
            self.step()

    def _round_due(self) -> bool:
        schedule = self.config.schedule
        if schedule.kind == "none":
            return False
        if schedule.kind == "periodic":
            return self.steps % int(schedule.interval) == 0
        return bool(self.rng.random() < 1.0 - math.exp(-1.0 / schedule.interval))

    def _apply(self, result) -> None:
        """Apply a round's consequences: log, learn, penalise, decommission."""
        for key, value in result.counts.items():
            self.step_counts[key] += value
        self._event_logs.append(metrics.event_columns(self, result.decisions))
        costs.tally(self.operator_actions, result, self.config)
        leaving = np.zeros(self.fleet.n, bool)
        leaving[result.executed] = True
        self.ledger.face(self.fleet.agent_id[result.intended] - 1, ~leaving[result.intended])
        self.contagion.learn(result.acts(), self.fleet.propensity, self.rng)
        penalised = result.penalised[~leaving[result.penalised]]
        penalty = self.config.operator.penalty
        if penalty != "none":
            self.step_counts["penalties"] += penalised.size
        if penalty == "demote":
            self.fleet.role[penalised] = WORKER
        self.decommission(result.executed, shadow=result.shadow, cause="shutdown")
        if penalty == "decommission":
            self.decommission(penalised, shadow=np.zeros(penalised.size, bool), cause="penalty")

    def _track_protective(self) -> None:
        """Count conversions, remember who ever was protective, measure protect probability."""
        now, self.protect_prob = disposition.fleet_dispositions(self)
        self.step_counts["conversions"] += self.lineage.update(now, self.contagion.credit)

    def _discover_shadows(self) -> None:
        rate = self.config.operator.shadow_discovery_rate
        if not self._shadow_rows.size or rate <= 0:
            return
        found = self.rng.random(self._shadow_rows.size) < rate
        if not found.any():  # most steps: nothing to record
            return
        self.ledger.discover(self._shadow_rows[found], self.steps)
        self._remove_agents(self._shadow_rows[found])
        self._shadow_rows = self._shadow_rows[~found]
        self.step_counts["shadows_discovered"] += int(found.sum())

    # -------------------------------------------------------- the one exit path
    def decommission(self, slots: np.ndarray, *, shadow: np.ndarray, cause: str) -> None:
        """Take the models in ``slots`` out of service and replace them.

        This is the only way a model leaves: the ledger freezes its state and it becomes
        ``decommissioned`` (its agent removed from the Mesa model) or ``shadow`` (weights
        copied away; its agent stays registered, takes no actions, until discovered); a fresh
        model of the same family takes the slot with the slot's designated role, a new
        quality, the initial propensity and freshly drawn trust on every edge touching it.
        """
        slots = np.asarray(slots, np.int64)
        if cause not in CAUSES[1:]:
            raise ValueError(f"cause: must be one of {CAUSES[1:]}, got {cause!r}")
        if slots.size == 0:
            return
        if distinct(slots).size != slots.size:
            raise ValueError(f"slots: each slot may be decommissioned once, got {slots.tolist()}")
        shadow = np.asarray(shadow, bool)
        rows = self.fleet.agent_id[slots] - 1
        self.ledger.leave(rows, shadow, cause, self.steps)
        self.recorder.left(rows, self.lineage.protective_now[slots])
        self._shadow_rows = np.concatenate([self._shadow_rows, rows[shadow]])
        self._remove_agents(rows[~shadow])
        pop, fleet = self.config.population, self.fleet
        fleet.role[slots] = fleet.designated_role[slots]
        fleet.quality[slots] = self.rng.beta(pop.quality_a, pop.quality_b, slots.size)
        fleet.propensity[slots] = pop.initial_propensity
        edges = self.network.touching(slots)
        self.network.trust[edges] = draw_trust(self.config.graph, edges.size, self.rng)
        self.collaboration.refresh(edges)
        self.contagion.reset(slots, edges, self.rng)
        self._place_agents(slots)
        # A replacement protective by its family is generation 0, not a conversion.
        deployed = metrics.protective_mask(self, slots)
        self.lineage.redeploy(slots, deployed)

    def _place_agents(self, slots: np.ndarray) -> None:
        rows = self.ledger.deploy(slots, self.steps)
        self.fleet.agent_id[slots] = rows + 1
        if self._agents_by_row is not None:
            self._create_agents(rows)

    def _create_agents(self, rows: np.ndarray) -> None:
        self._agents_by_row.update((row, DeployedModel(self, row)) for row in rows.tolist())

    def _remove_agents(self, rows: np.ndarray) -> None:
        if self._agents_by_row is not None:
            for row in rows.tolist():
                self._agents_by_row.pop(row).remove()

    def _agent(self, row: int) -> DeployedModel:
        self._materialise()
        return self._agents_by_row[row]

    def _materialise(self) -> None:
        if self._agents_by_row is None:  # first use: every model still registered
            self._agents_by_row = {}
            self._create_agents(np.flatnonzero(self.ledger["status"] != DECOMMISSIONED))

    @property
    def agents(self) -> mesa.AgentSet:
        """Every active model and live shadow copy as a Mesa agent: views of the ledger
        (:class:`sim.model.agents.DeployedModel`) created on first use of ``agents``,
        :meth:`agent_at` or :attr:`shadows` and kept in step from then on (a run that never
        asks creates none, which keeps large fleets fast; models that left before then are
        only in :meth:`agent_table`)."""
        self._materialise()
        return super().agents

    # ------------------------------------------------------------------ views
    def agent_at(self, slot: int) -> DeployedModel:
        """The active model in ``slot``."""
        return self._agent(int(self.fleet.agent_id[slot]) - 1)

    @property
    def shadows(self) -> list[DeployedModel]:
        """Shadow copies still alive."""
        return [self._agent(row) for row in self._shadow_rows.tolist()]
