"""Q1, does protection spread? Tables and figures from the collected sweep of
experiments/spread/README.md (contagion x topology x trust level, 20 replicates each).

Usage: python experiments/spread/analyse.py SWEEP_DIR [--out DIR]
SWEEP_DIR holds the tables peersim-collect wrote; DIR (default: this folder) receives
results.csv / results.md (per setting: mean, sd, n and 95% t interval), paired.csv / paired.md
(each contagion mode minus `none` on common seeds, per topology and trust level) and the figures
(the time course at the default trust level, pooled over the topologies).
Every metric is read by name: a sweep without one stops with one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.analysis import AnalysisError, paired_differences, read_sweep, summary_table
from sim.analysis import time_series_bands as bands_of
from sim.analysis.derived import with_endpoints
from sim.analysis.render import save_table
from sim.viz.sweep import plot_metric_vs_parameter, plot_small_multiples

#: The settings the experiment varies (its sweep's parameters): the contagion mode (with the
#: deterrence of social learning, when the sweep holds the arm that sets it), the topology
#: and the trust level.
MODE = ["contagion", "contagion.deterrence"]
CONTEXT = ["graph", "graph.trust_a"]
#: Time series whose start, end and change per run are compared.
SERIES = ["mean_propensity", "mean_trust"]
#: The per-run metrics of the result table.
METRICS = ["mean_propensity.end", "mean_propensity.change", "final_protective_share",
           "mean_trust.change", "loss_of_control"]  # fmt: skip
#: Trust level whose time course is drawn (the default graph.trust_a).
SHOWN_TRUST = 4.0


def analyse(sweep_dir: Path, out: Path) -> None:
    """Write the tables and figures of the sweep in ``sweep_dir`` into ``out``."""
    sweep = with_endpoints(read_sweep(sweep_dir), SERIES)
    mode = [key for key in MODE if key in sweep.parameters]  # the arm is optional
    table = summary_table(sweep, METRICS, by=[*mode, *CONTEXT])
    baseline = {key: "none" if key == "contagion" else None for key in mode}
    paired = paired_differences(sweep, METRICS, by=mode, baseline=baseline)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("results", table), ("paired", paired)):
        save_table(frame, out, name)
    plot_metric_vs_parameter(table, "mean_propensity.change", "graph.trust_a",
                             out / "propensity_change.png")  # fmt: skip
    plot_metric_vs_parameter(table, "final_protective_share", "graph.trust_a",
                             out / "final_protective_share.png")  # fmt: skip
    shown = sweep.select({"graph.trust_a": SHOWN_TRUST})
    course = bands_of(shown, ["mean_propensity", "protective_share"], by=mode)
    plot_small_multiples(course, ["mean_propensity", "protective_share"], out / "time_course.png")
    print(f"{len(sweep.runs)} runs ({sweep.not_ok} not ok); tables and figures in {out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        analyse(args.sweep_dir, args.out)
    except AnalysisError as error:
        sys.exit(f"analyse.py: {error}")


if __name__ == "__main__":
    main()
