"""What an :class:`~sim.model.ecosystem.Ecosystem` lets you read: its tables, time series,
summary, snapshots, trust graph and ``llm`` usage (a mixin; the model keeps the state)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.core.fleet import OVERSEER
from sim.model import costs, metrics, tables
from sim.model.summary import summarise

__all__ = ["EcosystemViews"]


class EcosystemViews:
    """Read-only views of an ecosystem's state, mixed into :class:`Ecosystem`."""

    def llm_usage(self) -> dict:
        """The ``llm`` engine's calls, cache hits, tokens, cost, retries and errors, or {}."""
        return self.llm.usage() if self.llm else {}

    def transcripts(self) -> list[dict]:
        """Each ``llm`` sandbox decision, secrets redacted (event log `transcript` indexes it)."""
        return list(self.llm.transcripts) if self.llm else []

    @property
    def n_shadows(self) -> int:
        """How many shadow copies are still alive."""
        return int(self._shadow_rows.size)

    @property
    def n_overseers(self) -> int:
        """Active overseers."""
        return int(np.sum(self.fleet.role == OVERSEER))

    def protective(self) -> np.ndarray:
        """Boolean mask over slots of models currently counted as protective."""
        return metrics.protective_mask(self)

    def time_series(self) -> pd.DataFrame:
        """One row per step (step 0 = initial state) of the per-step metrics."""
        return self.datacollector.get_model_vars_dataframe()

    def event_log(self) -> pd.DataFrame:
        """One row per decision made in a decommission round."""
        return metrics.event_frame(self._event_logs, self.fleet.families)

    def agent_table(self) -> pd.DataFrame:
        """One row per model ever deployed (active, shadow or decommissioned)."""
        return self.ledger.frame()

    def model_table(self) -> pd.DataFrame:
        """One row per model ever deployed with its slot's network position and its
        shutdown record (see :func:`sim.model.tables.model_table`)."""
        return tables.model_table(self)

    def summary(self) -> dict[str, float | int]:
        """Per-run metrics, NaN where undefined (see :func:`sim.model.summary.summarise`),
        and what oversight cost the operator (:func:`sim.model.costs.priced`)."""
        return {**summarise(self), **costs.priced(self.operator_actions, self.config)}

    def snapshots(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Snapshots so far and now: models and trust (:mod:`sim.model.snapshots`; or empty)."""
        return self.recorder.frames(self)

    def trust_graph(self):
        """The current trust graph (see :func:`sim.model.tables.trust_graph`)."""
        return tables.trust_graph(self)
