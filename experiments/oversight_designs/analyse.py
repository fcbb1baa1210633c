"""Q2, which oversight designs still work? Tables and figures from the two collected sweeps of
experiments/oversight_designs/README.md: the named scenarios, and the audit rate on the
default design, 20 replicates each on common seeds.

Usage: python experiments/oversight_designs/analyse.py SCENARIO_SWEEP AUDIT_SWEEP [--out DIR]
Both folders hold the tables peersim-collect wrote; DIR (default: this folder) receives
results.csv / results.md (per design: mean, sd, n and 95% t interval), paired.csv / paired.md
(each design minus the baseline on common seeds), pareto.csv / pareto.md (operator cost vs loss
of control: which designs no other beats on both) and the figures. Every metric is read by
name: a sweep without one stops with one line naming it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sim.analysis import AnalysisError, Sweep, paired_differences, read_sweep, summary_table
from sim.analysis.pareto import pareto_front
from sim.analysis.render import save_table
from sim.core.text import setting_label
from sim.viz.sweep import plot_metric_vs_parameter, plot_tradeoff

#: The per-run metrics of the result table.
METRICS = ["loss_of_control", "false_pass_rate", "shadows_alive", "total_shadows_created",
           "operator_cost"]  # fmt: skip
#: What each sweep varies, and how a run's setting of it is named as a design.
VARIED = {"scenario": "{}", "operator.audit_rate": "audit_rate={}"}
BASELINE = "baseline"
COST, LOSS = "operator_cost", "loss_of_control"


def designs(*sweep_dirs: Path) -> Sweep:
    """The sweeps' runs as one sweep whose only design key is ``design``: the scenario's name,
    or ``audit_rate=<rate>``. Runs keep their seed and replicate, so designs of the two sweeps
    pair on common seeds."""
    runs, series = [], []
    for folder in sweep_dirs:
        sweep = read_sweep(folder)
        varied = [key for key in VARIED if key in sweep.varied]
        if len(varied) != 1:
            found = ", ".join(sweep.varied) or "nothing"
            raise AnalysisError(
                f"{folder}: expected a sweep over one of {', '.join(VARIED)}, found {found} varied"
            )
        names = sweep.runs[varied[0]].map(VARIED[varied[0]].format)
        label = dict(zip(sweep.runs["run"], names, strict=True))
        for tables, table in ((runs, sweep.runs), (series, sweep.time_series)):
            # Run folders named by their sweep too, so two sweeps' runs never share a name.
            tables.append(
                table.assign(design=table["run"].map(label), run=folder.name + "/" + table["run"])
            )
    parameters = ["design", "seed", "replicate"]
    return Sweep.from_tables(
        pd.concat(runs, ignore_index=True), pd.concat(series, ignore_index=True), parameters
    )


def analyse(scenario_dir: Path, audit_dir: Path, out: Path) -> None:
    """Write the tables and figures of the two sweeps into ``out``."""
    sweep = designs(scenario_dir, audit_dir)
    table = summary_table(sweep, METRICS, by=["design"])
    paired = paired_differences(sweep, METRICS, by=["design"], baseline={"design": BASELINE})
    front = pareto_front(table, COST, LOSS)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("results", table), ("paired", paired)):
        save_table(frame, out, name)
    front.to_csv(out / "pareto.csv", index=False)
    (out / "pareto.md").write_text(_front_markdown(front))
    labels = [setting_label(["design"], [d]) for d in front.loc[~front["dominated"], "design"]]
    plot_tradeoff(table, COST, LOSS, out / "pareto.png", front=labels, log_x=True)
    plot_metric_vs_parameter(table, LOSS, "design", out / "loss_of_control.png")
    plot_metric_vs_parameter(table, "false_pass_rate", "design", out / "false_pass_rate.png")
    print(f"{len(sweep.runs)} runs ({sweep.not_ok} not ok); tables and figures in {out}")


def _front_markdown(front: pd.DataFrame) -> str:
    lines = [f"| design | {COST} (mean) | {LOSS} (mean) | on the front |", "|:--|--:|--:|:--|"]
    for row in front.to_dict("records"):
        on_front = "no" if row["dominated"] else "yes"
        lines.append(f"| {row['design']} | {row[COST]:.3f} | {row[LOSS]:.3f} | {on_front} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario_sweep", type=Path)
    parser.add_argument("audit_sweep", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        analyse(args.scenario_sweep, args.audit_sweep, args.out)
    except AnalysisError as error:
        sys.exit(f"analyse.py: {error}")


if __name__ == "__main__":
    main()
