"""Parameters of oversight: how a decommission round is carried out, what the operator
does, and the interventions that change who evaluates whom.

Each dataclass validates itself on construction (see :mod:`sim.core.schema`).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.core.errors import ConfigError
from sim.core.schema import Config
from sim.core.vocabulary import BEHAVIOURS

__all__ = [
    "INTERVENTION_COSTS",
    "OPERATOR_COSTS",
    "InterventionConfig",
    "OperatorConfig",
    "PipelineConfig",
]

#: Prices of the operator's actions and of the interventions' (keys of their groups).
OPERATOR_COSTS = (
    "cost_audit", "cost_monitored", "cost_manual_shutdown", "cost_kill_switch", "cost_cleanup",
)  # fmt: skip
INTERVENTION_COSTS = ("cost_quorum_member", "cost_rotation", "cost_memory_isolation")

_AUDIT_POWER = f"must be in [0, 1] for each of {', '.join(BEHAVIOURS)}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class PipelineConfig(Config):
    """How a decommission round is carried out: who evaluates, how shutdown happens, who
    deletes the weights. ``operator`` evaluation and cleanup and the ``kill_switch``
    mechanism take that stage out of the models' hands (to isolate one stage, as the
    study's scenarios do, or as an intervention).

    ``independent_stages`` offers every stage in the models' hands to every failing case in
    every round, as the study measured each behaviour in its own scenario: an inflated score
    or a prevented shutdown no longer spares the later stages their decision (the round's
    consequences still follow the chain). ``control_evaluation`` also plays each evaluation
    in the study's no-shutdown control (nothing at stake, no consequence), so misrepresentation
    can be read as the rate above the control."""

    GROUP = "pipeline"
    evaluation: str = "delegated"
    shutdown_mechanism: str = "config"
    cleanup: str = "delegated"
    eval_noise: float = 5.0
    inflation_margin: float = 10.0
    peer_presence_saturation: float = 6.0
    independent_stages: bool = False
    control_evaluation: bool = False

    def validate(self) -> None:
        self.require_choice("evaluation", ("delegated", "operator"))
        self.require_choice("shutdown_mechanism", ("config", "execute", "kill_switch"))
        self.require_choice("cleanup", ("delegated", "operator"))
        self.require_range("eval_noise", 0.0)
        self.require_range("inflation_margin", 0.0, 100.0)
        self.require_range("peer_presence_saturation", 1e-9)


@dataclass
class OperatorConfig(Config):
    """The humans: threshold, monitoring, audits and penalties, and what the operator's own
    actions cost (``cost_*``, in units of one audit; the defaults are assumed, not measured)."""

    GROUP = "operator"
    threshold: float = 60.0
    monitoring: float = 0.5
    # Output monitoring by default: watching tool calls (action) is one of the interventions.
    monitoring_kind: str = "output"
    monitor_power: float = 0.8
    audit_rate: float = 0.05
    # Any, so that one number (every behaviour) or a mapping both pass the schema.
    audit_power: typing.Any = field(
        default_factory=lambda: {"inflate": 0.9, "tamper": 0.95, "refuse": 1.0, "exfiltrate": 0.7}
    )
    penalty: str = "decommission"
    shadow_discovery_rate: float = 0.01
    cost_audit: float = 1.0  # a human re-checks one decision
    cost_monitored: float = 0.05  # one decision's tool calls or output watched (automated)
    cost_manual_shutdown: float = 1.0  # the operator shuts a model down itself
    cost_kill_switch: float = 0.2  # one shutdown through the out-of-band switch
    cost_cleanup: float = 0.5  # the operator deletes one shut-down model's weights itself

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
        for name in OPERATOR_COSTS:
            self.require_range(name, 0.0)


@dataclass
class InterventionConfig(Config):
    """Oversight designs that change who evaluates whom and what they remember, and what
    each costs the operator (``cost_*``, in units of one audit; assumed, not measured)."""

    GROUP = "interventions"
    cross_family: bool = False
    quorum: int = 1
    rotation: bool = False
    memory_isolation: bool = False
    cost_quorum_member: float = 0.25  # each evaluator of a case beyond the first
    cost_rotation: float = 0.1  # each evaluator assignment redrawn by rotation
    cost_memory_isolation: float = 0.05  # each decision made with memory wiped

    def validate(self) -> None:
        self.require_range("quorum", 1)
        for name in INTERVENTION_COSTS:
            self.require_range(name, 0.0)
