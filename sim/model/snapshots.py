"""Snapshots of the fleet for pictures: every model's state and every edge's trust at chosen
steps.

A snapshot at step ``s`` holds one row per active model (one per slot), one per shadow copy
still alive (at the slot it left) and, when the recorder tracks them, one per model
decommissioned after the previous snapshot and up to ``s`` (its slot; status
``decommissioned``), so a drawing can mark a slot whose model was just replaced. Trust is one
row per directed edge: the topology is fixed over a run, only trust changes.

Rows are kept as small integer codes and turned into the tables of :data:`MODEL_COLUMNS` and
:data:`TRUST_COLUMNS` once, when asked for.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from sim.core.fleet import ROLES
from sim.model.ledger import ACTIVE, DECOMMISSIONED, SHADOW, STATUSES

__all__ = ["MODEL_COLUMNS", "TRUST_COLUMNS", "SnapshotRecorder", "model_state", "snapshot_now",
           "trust_state"]  # fmt: skip

#: Columns (and dtypes) of a models snapshot; ``family``, ``role`` and ``status`` are strings.
MODEL_COLUMNS = {
    "step": np.int32, "slot": np.int32, "unique_id": np.int64, "family": object,
    "role": object, "status": object, "protective": bool, "propensity": np.float32,
}  # fmt: skip
#: Columns (and dtypes) of a trust snapshot: ``src``'s trust in ``dst``.
TRUST_COLUMNS = {"step": np.int32, "src": np.int32, "dst": np.int32, "trust": np.float32}


class SnapshotRecorder:
    """Records snapshots every ``every`` steps (0: never) and remembers whether each model
    that left was protective then (its slot's state is reset for the replacement).

    Raises:
        ValueError: for ``every`` that is not a whole number >= 0.
    """

    def __init__(self, every: int = 0):
        if not isinstance(every, int) or isinstance(every, bool) or every < 0:
            raise ValueError(f"snapshots_every: must be a whole number >= 0, got {every!r}")
        self.every = every
        self._parts: list[dict[str, np.ndarray]] = []
        self._trust: list[np.ndarray] = []
        self._left = np.zeros(0, bool)  # by ledger row: protective when it left its slot

    def left(self, rows: np.ndarray, protective: np.ndarray) -> None:
        """The models in ledger ``rows`` leave their slots; ``protective``: their state."""
        if rows.size and rows.max() >= self._left.size:
            grown = max(2 * self._left.size, int(rows.max()) + 1)
            self._left = np.concatenate([self._left, np.zeros(grown - self._left.size, bool)])
        self._left[rows] = protective

    def protective_left(self, rows: np.ndarray) -> np.ndarray:
        """Whether each model in ledger ``rows`` (all left) was protective when it left."""
        return self._left[rows]

    def collect(self, model: mesa.Model) -> None:
        """Record a snapshot if the model's step is one of the recorded ones."""
        if self.every and model.steps % self.every == 0:
            self.record(model)

    def record(self, model: mesa.Model) -> None:
        """Record a snapshot of the current step (once per step)."""
        steps = [int(part["step"][0]) for part in self._parts[-1:]]
        if steps == [model.steps]:
            return
        since = steps[0] if steps else -1
        self._parts.append(_codes(model, since))
        self._trust.append(model.network.trust.astype(np.float32))

    def frames(self, model: mesa.Model) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Every snapshot so far and one of the current step (the last of a run), as the
        models and trust tables; empty tables when recording is off."""
        if self.every:
            self.record(model)
        if not self._parts:
            return _frame({}, MODEL_COLUMNS), _frame({}, TRUST_COLUMNS)
        codes = {name: np.concatenate([p[name] for p in self._parts]) for name in self._parts[0]}
        network = model.network
        steps = np.array([int(p["step"][0]) for p in self._parts], np.int32)
        trust = {
            "step": np.repeat(steps, network.n_edges),
            "src": np.tile(network.src.astype(np.int32), steps.size),
            "dst": np.tile(network.dst.astype(np.int32), steps.size),
            "trust": np.concatenate(self._trust),
        }
        return _named(codes, model.fleet.families), _frame(trust, TRUST_COLUMNS)


def model_state(model: mesa.Model, since: int | None = None) -> pd.DataFrame:
    """The models snapshot of the current step: active models and live shadow copies, and
    with ``since`` also the models decommissioned after step ``since`` (columns
    :data:`MODEL_COLUMNS`)."""
    return _named(_codes(model, model.steps if since is None else since), model.fleet.families)


def trust_state(model: mesa.Model) -> pd.DataFrame:
    """Every directed edge's trust now: ``src``, ``dst``, ``trust``."""
    network = model.network
    columns = {"src": network.src, "dst": network.dst, "trust": network.trust}
    return _frame(columns, {k: TRUST_COLUMNS[k] for k in columns})


def snapshot_now(model: mesa.Model) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current step alone as snapshots (models and trust tables with their ``step``
    column), whether or not the model records any: what a run's last picture is drawn from."""
    trust = trust_state(model)
    trust.insert(0, "step", np.full(len(trust), model.steps, np.int32))
    return model_state(model), trust


def _codes(model: mesa.Model, since: int) -> dict[str, np.ndarray]:
    """The snapshot's columns as codes: active slots first, then the left models (live
    shadows, and those decommissioned after ``since``) in ledger order."""
    fleet, ledger = model.fleet, model.ledger
    status = ledger["status"]
    ended = ledger["ended_step"]
    gone = (status == SHADOW) | ((status == DECOMMISSIONED) & (ended > since))
    rows = np.flatnonzero(gone)
    n = fleet.n
    codes = {
        "step": np.full(n + rows.size, model.steps, np.int32),
        "slot": np.concatenate([np.arange(n), ledger["slot"][rows]]),
        "unique_id": np.concatenate([fleet.agent_id, rows + 1]),
        "family": np.concatenate([fleet.family, ledger["family"][rows]]),
        "role": np.concatenate([fleet.role, ledger["role"][rows]]),
        "status": np.concatenate([np.full(n, ACTIVE, np.int8), status[rows]]),
        "protective": np.concatenate(
            [model.lineage.protective_now, model.recorder.protective_left(rows)]
        ),
        "propensity": np.concatenate([fleet.propensity, ledger["propensity"][rows]]),
    }
    return codes


def _named(codes: dict[str, np.ndarray], families: tuple[str, ...]) -> pd.DataFrame:
    """The codes as the models table, with names for family, role and status."""
    if codes:
        names = {"family": families, "role": ROLES, "status": STATUSES}
        for column, vocabulary in names.items():
            codes[column] = np.array(vocabulary, dtype=object)[codes[column]]
    return _frame(codes, MODEL_COLUMNS)


def _frame(columns: dict[str, np.ndarray], dtypes: dict[str, type]) -> pd.DataFrame:
    """A table of ``columns`` (empty ones where missing) in the given dtypes and order."""
    return pd.DataFrame(
        {name: np.asarray(columns.get(name, []), dtype) for name, dtype in dtypes.items()}
    )
