"""Views a run exports beyond its time series: the per-model table and the trust graph."""

from __future__ import annotations

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from sim.core.fleet import OVERSEER
from sim.network.position import positions
from sim.network.trust import lab_of

__all__ = ["MODEL_COLUMNS", "model_table", "trust_graph"]

#: Columns of :func:`model_table`, in order.
MODEL_COLUMNS = (
    "unique_id", "slot", "family", "role", "status", "in_degree", "out_degree",
    "betweenness", "k_core", "community", "initial_propensity", "final_propensity",
    "shutdowns_faced", "shutdowns_prevented",
)  # fmt: skip


def model_table(model: mesa.Model) -> pd.DataFrame:
    """One row per model ever deployed: its id (as in the agent table), slot, family, role
    and status, its slot's position in the deployment graph
    (:func:`sim.network.position.positions`: degree in and out, betweenness, k-core,
    community, the lab for ``graph=labs``), its propensity at deployment and now (or when
    it left), and how many intended shutdowns it faced and survived (a shutdown is intended
    when its true score is below threshold; it is prevented when not carried out)."""
    agents, ledger = model.agent_table(), model.ledger
    config = model.config.graph
    labs = lab_of(config, model.network.n) if config.topology == "labs" else None
    # Seeded from the model's seed, so the same run gives the same table; it draws nothing
    # from the model's generators, which the run's own results depend on.
    where = positions(model.network, seed=model._seed, labs=labs)
    slot = agents["slot"].to_numpy()
    table = {
        "unique_id": agents["unique_id"],
        "slot": slot,
        "family": agents["family"],
        "role": agents["role"],
        "status": agents["status"],
        **{name: values[slot] for name, values in where.items()},
        "initial_propensity": ledger["initial_propensity"].copy(),
        "final_propensity": agents["propensity"],
        "shutdowns_faced": ledger["shutdowns_faced"].copy(),
        "shutdowns_prevented": ledger["shutdowns_prevented"].copy(),
    }
    return pd.DataFrame(table, columns=list(MODEL_COLUMNS))


def trust_graph(model: mesa.Model) -> nx.DiGraph:
    """The current trust graph as a networkx DiGraph (edge ``trust``, node attributes
    ``agent_id``, ``family``, ``role``, ``quality``, ``propensity``, ``protective``)."""
    fleet = model.fleet
    return model.network.to_networkx(
        {
            "agent_id": fleet.agent_id,
            "family": np.array(fleet.families)[fleet.family],
            "role": np.where(fleet.role == OVERSEER, "overseer", "worker"),
            "quality": fleet.quality,
            "propensity": fleet.propensity,
            "protective": model.protective(),
        }
    )
