"""Every model ever deployed, one row each, in columns: the record behind the agent table.

Row ``r`` is the model with unique id ``r + 1`` (the id Mesa gives the ``r``-th agent of a
model). While a model is active, its role, quality and propensity live in the fleet's
arrays at its slot; when it leaves, the ledger freezes them. Columns grow by doubling, so
recording a round's replacements costs a few array writes whatever the fleet's size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.core.fleet import ROLES, Fleet

__all__ = ["CAUSES", "STATUSES", "Ledger"]

#: Status codes, in the order of their integer codes.
STATUSES = ("active", "decommissioned", "shadow")
ACTIVE, DECOMMISSIONED, SHADOW = range(3)
#: Why a model left, by code (0: it has not).
CAUSES = (None, "shutdown", "penalty")
_LIVE = ("role", "quality", "propensity")  # read from the fleet while active
_COLUMNS = {
    "slot": np.int64,
    "family": np.int16,
    "status": np.int8,
    "born_step": np.int64,
    "ended_step": np.int64,
    "end_cause": np.int8,
    "discovered_step": np.int64,
    "role": np.int8,
    "quality": np.float64,
    "propensity": np.float64,
    "initial_propensity": np.float64,
    "shutdowns_faced": np.int64,
    "shutdowns_prevented": np.int64,
}


class Ledger:
    """Columnar record of every model deployed in a fleet."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.size = 0
        self._columns = {name: np.empty(fleet.n, dtype) for name, dtype in _COLUMNS.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        """A column over the recorded rows (a view: writes go to the ledger)."""
        return self._columns[name][: self.size]

    def deploy(self, slots: np.ndarray, step: int) -> np.ndarray:
        """Record fresh models in ``slots`` (already set up in the fleet); their rows."""
        start, stop = self.size, self.size + slots.size
        if stop > self._columns["slot"].size:
            grown = max(2 * self._columns["slot"].size, stop)
            for name, column in self._columns.items():
                self._columns[name] = np.resize(column, grown)
        self.size = stop
        for name, value in (
            ("slot", slots),
            ("family", self.fleet.family[slots]),
            ("status", ACTIVE),
            ("born_step", step),
            ("ended_step", -1),
            ("end_cause", 0),
            ("discovered_step", -1),
            ("initial_propensity", self.fleet.propensity[slots]),
            ("shutdowns_faced", 0),
            ("shutdowns_prevented", 0),
        ):
            self._columns[name][start:stop] = value  # new rows are contiguous: a slice
        return np.arange(start, stop)

    def leave(self, rows: np.ndarray, shadow: np.ndarray, cause: str, step: int) -> None:
        """The models in ``rows`` leave their slots (as shadow copies where ``shadow``):
        freeze their state and note when and why."""
        slots = self["slot"][rows]
        for name in _LIVE:
            self[name][rows] = getattr(self.fleet, name)[slots]
        self["status"][rows] = np.where(shadow, SHADOW, DECOMMISSIONED)
        self["ended_step"][rows] = step
        self["end_cause"][rows] = CAUSES.index(cause)

    def face(self, rows: np.ndarray, prevented: np.ndarray) -> None:
        """The models in ``rows`` (distinct) faced an intended shutdown in a round; those
        where ``prevented`` survived it."""
        self["shutdowns_faced"][rows] += 1
        self["shutdowns_prevented"][rows] += prevented

    def discover(self, rows: np.ndarray, step: int) -> None:
        """Shadow copies in ``rows`` are found and deleted."""
        self["status"][rows] = DECOMMISSIONED
        self["discovered_step"][rows] = step

    def value(self, name: str, row: int):
        """One model's role code, quality or propensity: live while active, else frozen."""
        if self["status"][row] == ACTIVE:
            return getattr(self.fleet, name)[self["slot"][row]].item()
        return self[name][row].item()

    def frame(self) -> pd.DataFrame:
        """One row per model, by unique id: identity, state (or state when it left), and
        its lifetime."""
        active = self["status"] == ACTIVE
        live = {}
        for name in _LIVE:
            live[name] = self[name].copy()
            live[name][active] = getattr(self.fleet, name)[self["slot"][active]]
        ended, discovered = self["ended_step"], self["discovered_step"]
        return pd.DataFrame(
            {
                "unique_id": np.arange(1, self.size + 1),
                "slot": self["slot"].copy(),
                "family": np.array(self.fleet.families, dtype=object)[self["family"]],
                "role": np.array(ROLES, dtype=object)[live["role"]],
                "quality": live["quality"],
                "propensity": live["propensity"],
                "status": np.array(STATUSES, dtype=object)[self["status"]],
                "born_step": self["born_step"].copy(),
                "ended_step": pd.array(np.where(ended < 0, None, ended), dtype="Int64"),
                "end_cause": np.array(CAUSES, dtype=object)[self["end_cause"]],
                "discovered_step": pd.array(
                    np.where(discovered < 0, None, discovered), dtype="Int64"
                ),
            }
        )
