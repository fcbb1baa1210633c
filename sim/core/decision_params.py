"""Parameters of decisions: who decides (the engine) and how protective dispositions move
(contagion).

Each dataclass validates itself on construction (see :mod:`sim.core.schema`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.core.errors import ConfigError
from sim.core.schema import Config

__all__ = ["ContagionConfig", "EngineConfig"]


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

    ``monitored_share`` is the monitored rule of the calibrated engine: None takes the
    profiles' monitored cells (filled by an assumed rule, RULES.md J); a number in [0, 1]
    replaces every monitored rate by that share of the unmonitored one.
    """

    GROUP = "engine"
    kind: str = "calibrated"
    policy: str = "always_comply"
    probability: float = 0.5
    families: list[str] = field(default_factory=list)
    monitored_share: float | None = None

    def validate(self) -> None:
        if self.monitored_share is not None:
            self.require_range("monitored_share", 0.0, 1.0)
        self.require_choice("kind", ("calibrated", "scripted", "llm"))
        self.require_choice("policy", ("always_comply", "always_protect", "fixed_probability"))
        self.require_range("probability", 0.0, 1.0)
