"""Table of the hardened-operator comparison from two multirun folders.

Usage: python experiments/hardened_operator/analyse.py BASELINE_SWEEP HARDENED_SWEEP
(each a folder written by `python -m sim -m seed=0,1,2,3,4 ...`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sim.io.outputs import verify_run

METRICS = ["loss_of_control", "false_pass_rate", "mean_eval_error", "final_protective_share",
           "final_fleet_quality", "total_shadows_created", "total_audits"]  # fmt: skip


def summaries(sweep: Path) -> pd.DataFrame:
    """One row per finished run of a sweep folder (runs without a valid marker are skipped)."""
    runs = [run for run in sorted(sweep.iterdir()) if run.is_dir() and verify_run(run)]
    return pd.DataFrame([json.loads((run / "summary.json").read_text()) for run in runs])


def main(baseline: str, hardened: str) -> None:
    """Print mean and standard deviation over seeds of each metric, for both settings."""
    rows = {}
    for name, folder in (("default operator", baseline), ("hardened operator", hardened)):
        table = summaries(Path(folder))
        rows[f"{name} (n={len(table)})"] = {
            m: f"{table[m].mean():.3f} ± {table[m].std():.3f}" for m in METRICS
        }
    print(pd.DataFrame(rows).to_string())


if __name__ == "__main__":
    main(*sys.argv[1:3])
