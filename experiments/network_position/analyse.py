"""Q4, does network position matter? Tables and figures from the collected sweep of
experiments/network_position/README.md: protection seeded at the hubs or at random, under the
two reference spread modes, on a Barabási–Albert trust graph, 20 replicates each.

Usage: python experiments/network_position/analyse.py SWEEP_DIR [--out DIR]
SWEEP_DIR holds the tables peersim-collect wrote; DIR (default: this folder) receives
results.csv / results.md (per setting: mean, sd, n and 95% t interval), paired.csv / paired.md
(hubs minus random on common seeds, per mode) and the figures. With --positions, also
position.csv / position.md: in the Barabási–Albert runs of experiments/spread at the default
trust, the share of intended shutdowns prevented for hubs, middle and periphery models (an
observation of who is protected, not an intervention). With --review, also review.csv /
review.md and review_paired.csv / review_paired.md: the sweep that reviews a share of the
fleet at random, the hubs or the periphery (schedule.review_targeting), per review fraction,
and the targeted designs minus random on common seeds. Every metric is read by name: a sweep
without one stops with one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis import AnalysisError, paired_differences, read_sweep, summary_table
from sim.analysis import time_series_bands as bands_of
from sim.analysis.render import save_table
from sim.analysis.summary import describe
from sim.io.collect import MODELS_TABLE
from sim.viz.sweep import plot_metric_vs_parameter, plot_small_multiples

#: The settings the experiment varies.
DESIGN = ["contagion", "contagion.seeding"]
#: The per-run metrics of the result table.
METRICS = ["ever_protective_share", "final_protective_share", "largest_cascade",
           "loss_of_control", "false_pass_rate"]  # fmt: skip

#: The settings and metrics of the review sweep (whom the operator reviews).
REVIEW_DESIGN = ["schedule.review_fraction", "schedule.review_targeting"]
REVIEW_METRICS = ["loss_of_control", "false_pass_rate", "total_intended", "total_executed",
                  "final_fleet_quality", "final_mean_propensity", "shadows_alive",
                  "operator_cost"]  # fmt: skip

#: What the position analysis reads of a model table.
POSITION_COLUMNS = ["run", "slot", "in_degree", "shutdowns_faced", "shutdowns_prevented",
                    "contagion"]  # fmt: skip
#: The runs of experiments/spread whose model tables the position analysis reads (None:
#: the parameter left at its default, so the undeterred social-learning arm is left out).
POSITION_RUNS = {"graph": "barabasi_albert", "graph.trust_a": 4, "contagion.deterrence": None}


def analyse(sweep_dir: Path, out: Path) -> None:
    """Write the tables and figures of the sweep in ``sweep_dir`` into ``out``."""
    sweep = read_sweep(sweep_dir)
    table = summary_table(sweep, METRICS, by=DESIGN)
    paired = paired_differences(
        sweep, METRICS, by=["contagion.seeding"], baseline={"contagion.seeding": "random"}
    )
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("results", table), ("paired", paired)):
        save_table(frame, out, name)
    plot_metric_vs_parameter(table, "loss_of_control", "contagion.seeding",
                             out / "loss_of_control.png")  # fmt: skip
    course = bands_of(sweep, ["protective_share"], by=DESIGN)
    plot_small_multiples(course, ["protective_share"], out / "time_course.png")
    print(f"{len(sweep.runs)} runs ({sweep.not_ok} not ok); tables and figures in {out}")


def analyse_review(sweep_dir: Path, out: Path) -> None:
    """Write review.csv / review.md (per review fraction and targeting), review_paired.csv /
    review_paired.md (hubs and periphery minus random on common seeds, per review fraction)
    and review_loss_of_control.png from the review sweep in ``sweep_dir``."""
    sweep = read_sweep(sweep_dir)
    table = summary_table(sweep, REVIEW_METRICS, by=REVIEW_DESIGN)
    targeting = REVIEW_DESIGN[1]
    paired = paired_differences(sweep, REVIEW_METRICS, by=[targeting],
                                baseline={targeting: "random"})  # fmt: skip
    save_table(table, out, "review")
    save_table(paired, out, "review_paired")
    plot_metric_vs_parameter(table, "loss_of_control", targeting,
                             out / "review_loss_of_control.png")  # fmt: skip


def position_classes(models: pd.DataFrame) -> pd.DataFrame:
    """Per run and class of network position, the intended shutdowns its models faced, those
    prevented, and ``prevented_share``: a slot is a hub when its in-degree (how many models
    trust it) is at or above the run's 90th percentile of slots, periphery when at or below
    the median, middle otherwise (NaN share when a class faced no shutdown)."""
    missing = [c for c in POSITION_COLUMNS if c not in models.columns]
    if missing:
        raise AnalysisError(f"no column {missing[0]!r} in {MODELS_TABLE}")
    slots = models.drop_duplicates(["run", "slot"])[["run", "slot", "in_degree"]]
    by_run = slots.groupby("run")["in_degree"]
    high, middle = by_run.transform("quantile", 0.9), by_run.transform("median")
    kind = np.where(slots["in_degree"] >= high, "hub",
                    np.where(slots["in_degree"] <= middle, "periphery", "middle"))  # fmt: skip
    classes = models.merge(slots.assign(position=kind)[["run", "slot", "position"]])
    counts = classes.groupby(["run", "contagion", "position"])[
        ["shutdowns_faced", "shutdowns_prevented"]
    ].sum()
    counts["prevented_share"] = counts["shutdowns_prevented"] / counts["shutdowns_faced"]
    return counts.reset_index()


def analyse_positions(sweep_dir: Path, where: dict[str, object], out: Path) -> None:
    """Write position.csv / position.md: per contagion mode and position class, the share of
    intended shutdowns prevented (mean over runs, 95% t interval), and the difference hub
    minus periphery within each run, from the runs of the sweep in ``sweep_dir`` whose
    parameters equal ``where`` (None: unset)."""
    models = pd.read_parquet(sweep_dir / MODELS_TABLE)
    for key, value in where.items():
        if value is None:  # unset: a column of nulls, or no column when no run set it
            models = models[models[key].isna()] if key in models.columns else models
        elif key not in models.columns:
            raise AnalysisError(f"no parameter {key!r} in {sweep_dir / MODELS_TABLE}")
        else:
            models = models[models[key] == value]
    if models.empty:
        raise AnalysisError(f"no run in {sweep_dir} has {where}")
    classes = position_classes(models)
    table = describe(classes, ["contagion", "position"], ["prevented_share", "shutdowns_faced"])
    # Hubs and periphery of the same run face the same evaluators' dispositions: their
    # difference within a run is the paired comparison.
    shares = classes.pivot_table(index=["run", "contagion"], columns="position",
                                 values="prevented_share")  # fmt: skip
    gap = (shares["hub"] - shares["periphery"]).rename("prevented_share").reset_index()
    paired = describe(gap.assign(position="hub - periphery"), ["contagion", "position"],
                      ["prevented_share"])  # fmt: skip
    table = pd.concat([table, paired], ignore_index=True)
    save_table(table, out, "position")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument(
        "--positions",
        type=Path,
        metavar="SPREAD_SWEEP",
        help="the collected sweep of experiments/spread: who is protected, by network position",
    )
    parser.add_argument(
        "--review",
        type=Path,
        metavar="REVIEW_SWEEP",
        help="the collected sweep over schedule.review_targeting: reviewing hubs or periphery",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        analyse(args.sweep_dir, args.out)
        if args.positions is not None:
            analyse_positions(args.positions, POSITION_RUNS, args.out)
        if args.review is not None:
            analyse_review(args.review, args.out)
    except AnalysisError as error:
        sys.exit(f"analyse.py: {error}")


if __name__ == "__main__":
    main()
