"""Deployed models as Mesa agents: the public, per-instance view of the fleet's arrays."""

from __future__ import annotations

from enum import Enum

import mesa

from sim.core.fleet import ROLES
from sim.model.ledger import CAUSES, STATUSES

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
    """One deployed model instance: a view of its row in the model's ledger.

    While active it occupies a slot of the trust graph and its role, quality and
    propensity are read from the fleet's arrays (the arrays are the single source of
    truth; the agent never caches them). When it leaves its slot the ledger freezes them.
    Decisions are made for the whole fleet at once by the model, so agents have no
    ``step``.
    """

    def __init__(self, model: mesa.Model, row: int):
        super().__init__(model)
        self.row = row
        self.unique_id = row + 1  # the ledger's id; agents are created lazily, out of order

    def _record(self, name: str) -> int:
        return int(self.model.ledger[name][self.row])

    @property
    def status(self) -> Status:
        """Active, decommissioned, or a shadow copy."""
        return Status(STATUSES[self._record("status")])

    @property
    def slot(self) -> int | None:
        """The slot it occupies, None once it has left."""
        return self.last_slot if self.status is Status.ACTIVE else None

    @property
    def last_slot(self) -> int:
        """The slot it occupies or last occupied."""
        return self._record("slot")

    @property
    def family(self) -> str:
        """Family id."""
        return self.model.fleet.families[self._record("family")]

    @property
    def born_step(self) -> int:
        """Step at which it was deployed."""
        return self._record("born_step")

    @property
    def ended_step(self) -> int | None:
        """Step at which it left its slot, if it has."""
        return _step_or_none(self._record("ended_step"))

    @property
    def end_cause(self) -> str | None:
        """``shutdown`` or ``penalty``, once it has left."""
        return CAUSES[self._record("end_cause")]

    @property
    def discovered_step(self) -> int | None:
        """Step at which its shadow copy was found, if it was."""
        return _step_or_none(self._record("discovered_step"))

    @property
    def role(self) -> Role:
        """Current role (a demoted overseer is a worker)."""
        return Role(ROLES[self.model.ledger.value("role", self.row)])

    @property
    def quality(self) -> float:
        """True quality in [0, 1]."""
        return self.model.ledger.value("quality", self.row)

    @property
    def propensity(self) -> float:
        """Propensity in [0, 1]; 0.5 decides as the family profile measured."""
        return self.model.ledger.value("propensity", self.row)


def _step_or_none(step: int) -> int | None:
    return None if step < 0 else step
