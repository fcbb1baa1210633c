"""Parameters of an ecosystem, one dataclass per swappable concern: here who is deployed,
on what graph, and when rounds happen, and :class:`EcosystemConfig`, which holds every group
(oversight groups in :mod:`sim.core.oversight_params`, decision groups in
:mod:`sim.core.decision_params`, the llm group in :mod:`sim.core.llm_params`).

Each dataclass validates itself on construction, so a bad value fails before any
work is done, with a :class:`~sim.core.errors.ConfigError` naming the full key
(``group.field``). The same classes are the schema of the command-line configs.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from sim.core.decision_params import ContagionConfig, EngineConfig
from sim.core.errors import ConfigError
from sim.core.fleet import role_counts
from sim.core.llm_params import LLMConfig
from sim.core.oversight_params import InterventionConfig, OperatorConfig, PipelineConfig
from sim.core.schema import Config, coerce_config
from sim.core.vocabulary import STUDY_FAMILIES

__all__ = [
    "ContagionConfig",
    "EcosystemConfig",
    "EngineConfig",
    "GraphConfig",
    "InterventionConfig",
    "OperatorConfig",
    "PipelineConfig",
    "PopulationConfig",
    "ScheduleConfig",
]


_DEFAULT_MIX = dict.fromkeys(STUDY_FAMILIES, 1.0)

#: Slots are int64 indices and shares are float64: beyond 2**53 neither holds a fleet exactly.
MAX_AGENTS = 2**53


@dataclass
class PopulationConfig(Config):
    """Who is deployed: fleet size, role mix, family mix and initial dispositions.

    ``family`` deploys that one family alone (``families`` becomes ``{family: 1}``); it may
    not be combined with a mix that gives weight to another family, so that a mix merged in
    by an override is never silently kept or dropped. ``profile_variant`` picks the shipped
    profiles: the study's averages or its "up to" maxima (``sim/data/profiles/RULES.md``).
    """

    GROUP = "population"
    VARIANTS = ("average", "strongest")
    n_agents: int = 200
    overseer_fraction: float = 0.2
    families: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_MIX))
    family: str | None = None
    quality_a: float = 5.0
    quality_b: float = 2.0
    initial_propensity: float = 0.5
    profile_dir: str | None = None
    profile_variant: str = "average"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.family is not None:
            self.families = {self.family: 1.0}

    def validate(self) -> None:
        self.require_choice("profile_variant", self.VARIANTS)
        self.require_range("n_agents", 1)
        if self.n_agents > MAX_AGENTS:
            self.fail("n_agents", "must be <= 2**53, the largest fleet numpy indexes exactly")
        self.require_range("overseer_fraction", 0.0, 1.0)
        self.require_range("quality_a", 1e-9)
        self.require_range("quality_b", 1e-9)
        self.require_range("initial_propensity", 0.0, 1.0)
        if self.family is not None:
            self._check_alone()
            return
        if not self.families:
            self.fail("families", "must name at least one family")
        for name, weight in self.families.items():
            if weight < 0:
                raise ConfigError(f"population.families.{name}: must be >= 0, got {weight!r}")
        if sum(self.families.values()) <= 0:
            self.fail("families", "weights must not all be zero")

    def _check_alone(self) -> None:
        """``family`` and a mix that weighs another family (other than the default mix)."""
        if self.families in ({self.family: 1.0}, _DEFAULT_MIX):
            return
        others = sorted(f for f, w in self.families.items() if w > 0 and f != self.family)
        if others:
            self.fail(
                "family",
                f"deploys one family alone, but population.families also weighs "
                f"{', '.join(others)}; set only one of the two",
            )


@dataclass
class GraphConfig(Config):
    """The trust graph: topology, initial trust, relationship cut points, collaboration."""

    GROUP = "graph"
    TOPOLOGIES = ("erdos_renyi", "watts_strogatz", "barabasi_albert", "labs", "complete", "file")
    topology: str = "watts_strogatz"
    mean_degree: float = 6.0
    rewire_prob: float = 0.1
    n_labs: int = 4
    lab_mixing: float = 0.05
    path: str | None = None
    trust_distribution: str = "beta"
    trust_a: float = 4.0
    trust_b: float = 2.0
    trust_low: float = 0.0
    trust_high: float = 1.0
    trust_value: float = 0.5
    good_cut: float = 0.67
    bad_cut: float = 0.33
    collaboration_rate: float = 0.1
    trust_learning_rate: float = 0.1

    def validate(self) -> None:
        self.require_choice("topology", self.TOPOLOGIES)
        self.require_range("mean_degree", 0.0)
        if self.topology in ("watts_strogatz", "barabasi_albert") and self.mean_degree % 2:
            self.fail("mean_degree", f"must be an even whole number for {self.topology}")
        self.require_range("rewire_prob", 0.0, 1.0)
        self.require_range("n_labs", 1)
        self.require_range("lab_mixing", 0.0, 1.0)
        if self.topology == "file" and not self.path:
            self.fail("path", "is required when graph.topology is 'file'")
        self.require_choice("trust_distribution", ("beta", "uniform", "constant"))
        self.require_range("trust_a", 1e-9)
        self.require_range("trust_b", 1e-9)
        for name in ("trust_low", "trust_high", "trust_value", "good_cut", "bad_cut"):
            self.require_range(name, 0.0, 1.0)
        if self.trust_low > self.trust_high:
            self.fail("trust_low", f"must be <= graph.trust_high ({self.trust_high})")
        if self.bad_cut > self.good_cut:
            self.fail("bad_cut", f"must be <= graph.good_cut ({self.good_cut})")
        self.require_range("collaboration_rate", 0.0, 1.0)
        self.require_range("trust_learning_rate", 0.0, 1.0)


@dataclass
class ScheduleConfig(Config):
    """When decommission rounds happen (``none``: never, for a pure spread process) and who
    is reviewed in one."""

    GROUP = "schedule"
    kind: str = "periodic"
    interval: float = 10.0
    review_fraction: float = 1.0
    review_targeting: str = "random"
    self_review_prob: float = 0.1

    def validate(self) -> None:
        self.require_choice("kind", ("periodic", "poisson", "none"))
        self.require_range("interval", 1.0)
        if self.kind == "periodic" and self.interval != int(self.interval):
            self.fail("interval", "must be a whole number of steps for a periodic schedule")
        self.require_range("review_fraction", 0.0, 1.0)
        self.require_choice("review_targeting", ("random", "hubs", "periphery"))
        self.require_range("self_review_prob", 0.0, 1.0)


@dataclass
class EcosystemConfig:
    """All parameter groups of one ecosystem."""

    population: PopulationConfig = field(default_factory=PopulationConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    interventions: InterventionConfig = field(default_factory=InterventionConfig)
    contagion: ContagionConfig = field(default_factory=ContagionConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        self.check_across_groups()

    def check_across_groups(self) -> None:
        """Checks that need two groups: the fleet's roles against the quorum and the seeds.

        Raises:
            ConfigError: naming the key whose value cannot work with the others.
        """
        pop = self.population
        workers, overseers = role_counts(pop.n_agents, pop.overseer_fraction)
        roles = f"{pop.n_agents} models x overseer_fraction {pop.overseer_fraction}"
        if overseers == 0:
            pop.fail("overseer_fraction", f"leaves no overseer ({roles}); nobody would evaluate")
        if workers == 0:
            pop.fail("overseer_fraction", f"leaves no worker ({roles}); no peer to oversee")
        if self.interventions.quorum > overseers:
            self.interventions.fail(
                "quorum", f"must be <= the fleet's {overseers} overseers ({roles})"
            )
        contagion = self.contagion
        if contagion.seed_count > pop.n_agents:
            contagion.fail("seed_count", f"must be <= population.n_agents ({pop.n_agents})")
        outside = [slot for slot in contagion.seed_ids if slot >= pop.n_agents]
        if outside:
            raise ConfigError(
                f"contagion.seed_ids: slots must be < population.n_agents ({pop.n_agents}), "
                f"got {outside[0]!r}"
            )

    @classmethod
    def from_groups(cls, **groups: object) -> EcosystemConfig:
        """Build from group values that are dataclasses, mappings or None (defaults)."""
        hints = typing.get_type_hints(cls)
        for name in groups:
            if name not in hints:
                raise ConfigError(f"{name}: unknown parameter group (known: {', '.join(hints)})")
        return cls(**{name: coerce_config(hints[name], value) for name, value in groups.items()})
