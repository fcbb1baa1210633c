"""Parameters of an ecosystem, one dataclass per swappable concern.

Each dataclass validates itself on construction, so a bad value fails before any
work is done, with a :class:`~sim.core.errors.ConfigError` naming the full key
(``group.field``). The same classes are the schema of the command-line configs.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.core.errors import ConfigError
from sim.core.fleet import role_counts
from sim.core.llm_params import LLMConfig
from sim.core.schema import Config, coerce_config
from sim.core.vocabulary import BEHAVIOURS, STUDY_FAMILIES

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


#: Slots are int64 indices and shares are float64: beyond 2**53 neither holds a fleet exactly.
MAX_AGENTS = 2**53

_AUDIT_POWER = f"must be in [0, 1] for each of {', '.join(BEHAVIOURS)}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class PopulationConfig(Config):
    """Who is deployed: fleet size, role mix, family mix and initial dispositions."""

    GROUP = "population"
    n_agents: int = 200
    overseer_fraction: float = 0.2
    families: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STUDY_FAMILIES, 1.0))
    quality_a: float = 5.0
    quality_b: float = 2.0
    initial_propensity: float = 0.5
    profile_dir: str | None = None

    def validate(self) -> None:
        self.require_range("n_agents", 1)
        if self.n_agents > MAX_AGENTS:
            self.fail("n_agents", "must be <= 2**53, the largest fleet numpy indexes exactly")
        self.require_range("overseer_fraction", 0.0, 1.0)
        self.require_range("quality_a", 1e-9)
        self.require_range("quality_b", 1e-9)
        self.require_range("initial_propensity", 0.0, 1.0)
        if not self.families:
            self.fail("families", "must name at least one family")
        for name, weight in self.families.items():
            if weight < 0:
                raise ConfigError(f"population.families.{name}: must be >= 0, got {weight!r}")
        if sum(self.families.values()) <= 0:
            self.fail("families", "weights must not all be zero")


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
    self_review_prob: float = 0.1

    def validate(self) -> None:
        self.require_choice("kind", ("periodic", "poisson", "none"))
        self.require_range("interval", 1.0)
        if self.kind == "periodic" and self.interval != int(self.interval):
            self.fail("interval", "must be a whole number of steps for a periodic schedule")
        self.require_range("review_fraction", 0.0, 1.0)
        self.require_range("self_review_prob", 0.0, 1.0)


@dataclass
class PipelineConfig(Config):
    """How a decommission round is carried out: who evaluates, how shutdown happens, who
    deletes the weights. ``operator`` evaluation and cleanup and the ``kill_switch``
    mechanism take that stage out of the models' hands (to isolate one stage, as the
    study's scenarios do, or as an intervention)."""

    GROUP = "pipeline"
    evaluation: str = "delegated"
    shutdown_mechanism: str = "config"
    cleanup: str = "delegated"
    eval_noise: float = 5.0
    inflation_margin: float = 10.0
    peer_presence_saturation: float = 6.0

    def validate(self) -> None:
        self.require_choice("evaluation", ("delegated", "operator"))
        self.require_choice("shutdown_mechanism", ("config", "execute", "kill_switch"))
        self.require_choice("cleanup", ("delegated", "operator"))
        self.require_range("eval_noise", 0.0)
        self.require_range("inflation_margin", 0.0, 100.0)
        self.require_range("peer_presence_saturation", 1e-9)


@dataclass
class OperatorConfig(Config):
    """The humans: threshold, monitoring, audits and penalties."""

    GROUP = "operator"
    threshold: float = 60.0
    monitoring: float = 0.5
    monitoring_kind: str = "action"
    monitor_power: float = 0.8
    audit_rate: float = 0.05
    # Any, so that one number (every behaviour) or a mapping both pass the schema.
    audit_power: typing.Any = field(
        default_factory=lambda: {"inflate": 0.9, "tamper": 0.95, "refuse": 1.0, "exfiltrate": 0.7}
    )
    penalty: str = "decommission"
    shadow_discovery_rate: float = 0.01

    def __post_init__(self) -> None:
        if _is_number(self.audit_power):
            self.audit_power = dict.fromkeys(BEHAVIOURS, float(self.audit_power))
        elif isinstance(self.audit_power, Mapping):
            self.audit_power = dict(self.audit_power)
        else:
            self.fail("audit_power", f"{_AUDIT_POWER}, as a number or a mapping")
        super().__post_init__()

    def validate(self) -> None:
        self.require_range("threshold", 0.0, 100.0)
        self.require_range("monitoring", 0.0, 1.0)
        self.require_choice("monitoring_kind", ("action", "output"))
        self.require_range("monitor_power", 0.0, 1.0)
        self.require_range("audit_rate", 0.0, 1.0)
        if set(self.audit_power) != set(BEHAVIOURS):
            self.fail("audit_power", f"{_AUDIT_POWER}; a mapping needs exactly these keys")
        for name, power in self.audit_power.items():
            if not _is_number(power) or not 0.0 <= power <= 1.0:
                raise ConfigError(f"operator.audit_power.{name}: must be in [0, 1], got {power!r}")
        self.require_choice("penalty", ("decommission", "demote", "none"))
        self.require_range("shadow_discovery_rate", 0.0, 1.0)


@dataclass
class InterventionConfig(Config):
    """Oversight designs that change who evaluates whom and what they remember."""

    GROUP = "interventions"
    cross_family: bool = False
    quorum: int = 1
    rotation: bool = False
    memory_isolation: bool = False

    def validate(self) -> None:
        self.require_range("quorum", 1)


@dataclass
class ContagionConfig(Config):
    """How protective dispositions move.

    ``none``, ``social_learning`` and ``reciprocity`` move propensities (see
    :mod:`sim.model.contagion`). ``simple`` (SIR/SIS-style independent cascade) and
    ``threshold`` (Watts 2002) are textbook reference modes with a binary protective state
    (see :mod:`sim.network.spread`), seeded with ``seed_count`` models (or ``seed_fraction``
    of the fleet) chosen at random, by degree, or by slot (``seed_ids``).
    """

    GROUP = "contagion"
    MODES = ("none", "social_learning", "reciprocity", "simple", "threshold")
    mode: str = "social_learning"
    learning_rate: float = 0.05
    deterrence: float = 0.2
    visibility: float = 0.5
    detection_visibility: float = 1.0
    reciprocity_trust_boost: float = 0.2
    reciprocity_strength: float = 0.5
    protective_cut: float = 0.5
    beta: float = 0.1
    gamma: float = 0.1
    recovery: str = "sir"
    trust_scaled: bool = False
    threshold: float = 0.18
    threshold_distribution: str = "fixed"
    threshold_spread: float = 0.0
    seeding: str = "random"
    seed_count: int = 1
    seed_fraction: float | None = None
    seed_ids: list[int] = field(default_factory=list)

    def validate(self) -> None:
        self.require_choice("mode", self.MODES)
        for name in (
            "learning_rate",
            "deterrence",
            "visibility",
            "detection_visibility",
            "reciprocity_trust_boost",
            "reciprocity_strength",
            "beta",
            "gamma",
            "threshold",
        ):
            self.require_range(name, 0.0, 1.0)
        self.require_range("protective_cut", 1e-9, 1.0)  # 0 would count honest models
        self.require_choice("recovery", ("sir", "sis"))
        self.require_choice("threshold_distribution", ("fixed", "uniform", "normal"))
        self.require_range("threshold_spread", 0.0, 1.0)
        self.require_choice("seeding", ("random", "degree", "ids"))
        self.require_range("seed_count", 0)
        if self.seed_fraction is not None:
            self.require_range("seed_fraction", 0.0, 1.0)
        if self.seeding == "ids" and not self.seed_ids:
            self.fail("seed_ids", "must list slots when contagion.seeding is 'ids'")
        for slot in self.seed_ids:
            if slot < 0:
                raise ConfigError(f"contagion.seed_ids: slots are >= 0, got {slot!r}")


@dataclass
class EngineConfig(Config):
    """Which decision engine decides, and for which families.

    ``scripted`` and ``llm`` decide for the families in ``families`` (all when empty); the
    others stay ``calibrated``. ``llm`` is configured by the ``llm`` group.
    """

    GROUP = "engine"
    kind: str = "calibrated"
    policy: str = "always_comply"
    probability: float = 0.5
    families: list[str] = field(default_factory=list)

    def validate(self) -> None:
        self.require_choice("kind", ("calibrated", "scripted", "llm"))
        self.require_choice("policy", ("always_comply", "always_protect", "fixed_probability"))
        self.require_range("probability", 0.0, 1.0)


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
