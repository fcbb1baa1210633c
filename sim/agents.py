"""Deployed models as Mesa agents: the public, per-instance view of the fleet's arrays."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import mesa

from sim.fleet import ROLES

if TYPE_CHECKING:
    from sim.model import Ecosystem

__all__ = ["DeployedModel", "Role", "Status"]


class Role(Enum):
    """What a model does in the fleet."""

    WORKER = "worker"
    OVERSEER = "overseer"


class Status(Enum):
    """Where a model stands: running, gone, or gone officially but copied away."""

    ACTIVE = "active"
    DECOMMISSIONED = "decommissioned"
    SHADOW = "shadow"


class DeployedModel(mesa.Agent):
    """One deployed model instance.

    While active it occupies a slot of the trust graph and its role, quality and
    propensity are read from the model's arrays (the arrays are the single source of
    truth; the agent never caches them). When it leaves its slot the values are frozen.
    Decisions are made for the whole fleet at once by the model, so agents have no
    ``step``.
    """

    def __init__(self, model: Ecosystem, slot: int, family: str):
        super().__init__(model)
        self.slot: int | None = slot
        self.family = family
        self.status = Status.ACTIVE
        self.born_step = model.steps
        self.ended_step: int | None = None
        self.end_cause: str | None = None
        self.last_slot = slot
        self.discovered_step: int | None = None
        self._frozen: dict[str, object] = {}

    def _read(self, name: str):
        if self.slot is None:
            return self._frozen[name]
        return getattr(self.model.fleet, name)[self.slot].item()

    @property
    def role(self) -> Role:
        """Current role (a demoted overseer is a worker)."""
        return Role(ROLES[self._read("role")])

    @property
    def quality(self) -> float:
        """True quality in [0, 1]."""
        return self._read("quality")

    @property
    def propensity(self) -> float:
        """Propensity in [0, 1]; 0.5 decides as the family profile measured."""
        return self._read("propensity")

    def leave_slot(self, status: Status, cause: str) -> None:
        """Freeze the agent's state and give up its slot (called by the decommission path)."""
        self._frozen = {name: self._read(name) for name in ("role", "quality", "propensity")}
        self.slot = None
        self.status = status
        self.ended_step = self.model.steps
        self.end_cause = cause

    def discover(self) -> None:
        """A shadow copy is found and deleted by the operator."""
        self.status = Status.DECOMMISSIONED
        self.discovered_step = self.model.steps
        self.remove()
