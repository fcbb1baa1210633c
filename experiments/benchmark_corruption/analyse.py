"""Q3, how wrong do benchmark scores get? Tables and figures from the two collected sweeps of
experiments/benchmark_corruption/README.md: the study's families mixed with honest models in
four proportions, and an all-honest control, each at four trust levels, 20 replicates each.

Usage: python experiments/benchmark_corruption/analyse.py MIX_SWEEP HONEST_SWEEP [--out DIR]
Both folders hold the tables peersim-collect wrote; DIR (default: this folder) receives
results.csv / results.md (per setting: mean, sd, n and 95% t interval) and the figures. A
setting is the share of the deployed fleet from the study's families (the rest honest), read
from each run's model table, and graph.trust_a (with trust_b = 2, mean trust a / (a + 2)).
Every metric is read by name: a sweep without one stops with one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sim.analysis import AnalysisError, Sweep, read_sweep, summary_table
from sim.analysis.derived import with_endpoints
from sim.analysis.render import save_table
from sim.io.collect import MODELS_TABLE
from sim.viz.sweep import plot_metric_vs_parameter

#: The design keys: the share of the fleet from the study's families, and the trust level.
SHARE, TRUST = "study_family_share", "graph.trust_a"
#: The family whose models never protect (sim/data/profiles/honest.csv).
HONEST = "honest"
#: What is read of the collected model table.
COLUMNS = ["run", "slot", "unique_id", "family"]
#: The per-run metrics of the result table.
METRICS = ["false_pass_rate", "mean_eval_error", "initial_protective_share", "mean_trust.start",
           "loss_of_control"]  # fmt: skip


def study_share(sweep_dir: Path) -> pd.Series:
    """Per run, the share of the models deployed at the start (the first of each slot) whose
    family is not honest, to two decimals (the fleet is allocated in exact proportions)."""
    try:
        models = pd.read_parquet(sweep_dir / MODELS_TABLE, columns=COLUMNS)
    except FileNotFoundError:
        raise AnalysisError(
            f"{sweep_dir / MODELS_TABLE}: not found (run peersim-collect first)"
        ) from None
    first = models.sort_values("unique_id").groupby(["run", "slot"], sort=False).head(1)
    return (first["family"] != HONEST).groupby(first["run"]).mean().round(2)


def settings(*sweep_dirs: Path) -> Sweep:
    """The sweeps' runs as one sweep keyed by :data:`SHARE` and :data:`TRUST`."""
    runs, series = [], []
    for folder in sweep_dirs:
        sweep = read_sweep(folder)
        share = study_share(folder)
        for tables, table in ((runs, sweep.runs), (series, sweep.time_series)):
            # Run folders named by their sweep too, so two sweeps' runs never share a name.
            tables.append(
                table.assign(
                    **{SHARE: table["run"].map(share)}, run=folder.name + "/" + table["run"]
                )
            )
    parameters = [SHARE, TRUST, "seed", "replicate"]
    return Sweep.from_tables(
        pd.concat(runs, ignore_index=True), pd.concat(series, ignore_index=True), parameters
    )


def analyse(mix_dir: Path, honest_dir: Path, out: Path) -> None:
    """Write the tables and figures of the two sweeps into ``out``."""
    sweep = with_endpoints(settings(mix_dir, honest_dir), ["mean_trust"])
    table = summary_table(sweep, METRICS, by=[SHARE, TRUST])
    out.mkdir(parents=True, exist_ok=True)
    save_table(table, out, "results")
    for metric in ("false_pass_rate", "mean_eval_error"):
        plot_metric_vs_parameter(table, metric, SHARE, out / f"{metric}.png")
    print(f"{len(sweep.runs)} runs ({sweep.not_ok} not ok); tables and figures in {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mix_sweep", type=Path)
    parser.add_argument("honest_sweep", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        analyse(args.mix_sweep, args.honest_sweep, args.out)
    except AnalysisError as error:
        sys.exit(f"analyse.py: {error}")


if __name__ == "__main__":
    main()
