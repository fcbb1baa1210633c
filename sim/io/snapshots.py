"""Reading a run folder's snapshots back (written by :mod:`sim.app.runner` from
:meth:`sim.Ecosystem.snapshots` when ``record.snapshots_every`` turns them on)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.files import open_regular
from sim.io.outputs import DONE

__all__ = ["SNAPSHOT_FILES", "MissingSnapshots", "Spread", "read_snapshots", "read_spread"]

#: The models and the trust snapshots of a run folder, in that order.
SNAPSHOT_FILES = ("snapshots.parquet", "snapshots_trust.parquet")


class MissingSnapshots(FileNotFoundError):
    """A run folder without snapshots; the message says which option records them."""


def read_snapshots(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The models and trust snapshots of the run folder ``run_dir``.

    Only snapshots its ``done`` marker lists count: a run rerun in its folder with snapshots
    off leaves the earlier run's files, which are not this run's.

    Raises:
        MissingSnapshots: one line naming ``record.snapshots_every`` when the folder has no
            snapshots of its finished run (a run with them off, an unfinished run, or not a
            run folder).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise MissingSnapshots(f"{folder}: no such run folder")
    listed = _listed(folder)
    missing = [name for name in SNAPSHOT_FILES if name not in listed]
    if missing:
        raise MissingSnapshots(
            f"{folder}: no {' or '.join(missing)} of a finished run: this run recorded no "
            "snapshots; rerun it with record.snapshots_every=K (K >= 1; auto records fleets "
            "up to 1,000 models)"
        )
    models, trust = (pd.read_parquet(folder / name) for name in SNAPSHOT_FILES)
    return models, trust


def _listed(folder: Path) -> set[str]:
    """The files the folder's ``done`` marker lists (none without a readable marker)."""
    try:
        with open_regular(folder / DONE) as handle:
            files = json.load(handle)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return (
        {name for name in files if (folder / name).is_file()} if isinstance(files, dict) else set()
    )


@dataclass
class Spread:
    """What a drawing of a run's spread needs from its folder.

    Attributes:
        models, trust: the snapshots (:func:`read_snapshots`).
        series: the time series (for the timeline).
        community: each slot's community (its lab in a ``labs`` graph), from
            ``models.parquet``.
        labs: whether the graph is a ``labs`` graph.
        seed: the run's seed (the layout's).
    """

    models: pd.DataFrame
    trust: pd.DataFrame
    series: pd.DataFrame
    community: np.ndarray
    labs: bool
    seed: int


def read_spread(run_dir: str | Path) -> Spread:
    """The snapshots, time series, communities and seed of the run folder ``run_dir``.

    Raises:
        MissingSnapshots: one line, for a folder without snapshots (naming
            ``record.snapshots_every``) or without the run's other files.
    """
    folder = Path(run_dir)
    models, trust = read_snapshots(folder)
    needed = ("time_series.parquet", "models.parquet", "manifest.json")
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise MissingSnapshots(f"{folder}: no {', '.join(missing)}: not a finished run folder")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    slots = pd.read_parquet(folder / "models.parquet", columns=["slot", "community"])
    community = slots.drop_duplicates("slot").sort_values("slot")["community"].to_numpy()
    labs = manifest["config"]["graph"]["topology"] == "labs"
    series = pd.read_parquet(folder / "time_series.parquet")
    return Spread(models, trust, series, community, labs, int(manifest["seed"]))
