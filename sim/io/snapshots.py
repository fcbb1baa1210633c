"""Reading a run folder's snapshots back (written by :mod:`sim.app.runner` from
:meth:`sim.Ecosystem.snapshots` when ``record.snapshots_every`` turns them on)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["SNAPSHOT_FILES", "MissingSnapshots", "read_snapshots"]

#: The models and the trust snapshots of a run folder, in that order.
SNAPSHOT_FILES = ("snapshots.parquet", "snapshots_trust.parquet")


class MissingSnapshots(FileNotFoundError):
    """A run folder without snapshots; the message says which option records them."""


def read_snapshots(run_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The models and trust snapshots of the run folder ``run_dir``.

    Raises:
        MissingSnapshots: one line naming ``record.snapshots_every`` when the folder has no
            snapshots (a run with them off, or not a run folder).
    """
    folder = Path(run_dir)
    missing = [name for name in SNAPSHOT_FILES if not (folder / name).is_file()]
    if missing:
        raise MissingSnapshots(
            f"{folder}: no {' or '.join(missing)}: this run recorded no snapshots; rerun it "
            "with record.snapshots_every=K (K >= 1; auto records fleets up to 1,000 models)"
        )
    models, trust = (pd.read_parquet(folder / name) for name in SNAPSHOT_FILES)
    return models, trust
