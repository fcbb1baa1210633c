"""``peersim-sensitivity SWEEP_DIR [--metrics a,b] [--out DIR]``: the sensitivity indices of
a sweep run with ``hydra/sweeper=sensitivity`` (:mod:`sim.app.sensitivity`).

A design point's output is the mean of a summary metric over its runs (its replicates, or
any other setting swept with it). Morris: ``mu_star``, the mean absolute elementary effect
(the change of the metric over a grid step, scaled to the factor's whole range), with its
95% bootstrap interval, and ``sigma`` (how
much that effect depends on the other factors); factors ranked by ``mu_star``. Sobol: the
first-order index ``S1`` (the share of the metric's variance due to the factor alone) and
the total index ``ST`` (alone and in interactions), with 95% bootstrap intervals; ranked by
``ST``. SALib computes both, with the design's seed. The command prints one ranked table per
metric; ``--out`` also writes them as CSV with a figure.

Exit status: 0, or 2 with one line (no design in the folder, an unknown metric, a design
point with no finished run or an undefined metric: rerun the sweep, or choose another).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.app.sensitivity import problem_of, read_design
from sim.core.errors import ConfigError
from sim.core.text import printable
from sim.io.runs import read_run

__all__ = ["indices", "main", "point_outputs"]

PROG = "peersim-sensitivity"
DEFAULT_METRICS = ("loss_of_control", "false_pass_rate")


def point_outputs(sweep_dir: Path, record: dict, metric: str) -> np.ndarray:
    """The mean of ``metric`` over each design point's runs, in the design's order.

    Raises:
        ConfigError: naming the first point with no finished run, or an undefined
            (missing, null or NaN) metric in every run of a point.
    """
    sweep_dir = Path(sweep_dir)
    values: dict[tuple, list[float]] = {}
    for run in record["runs"]:
        read = read_run(sweep_dir / run["folder"], sweep_dir)
        value = read.metrics.get(metric) if read.status == "ok" else None
        if read.status == "ok" and metric not in read.metrics:
            known = ", ".join(sorted(k for k, v in read.metrics.items() if _is_number(v)))
            raise ConfigError(f"--metrics: unknown metric (one of {known}), got {metric!r}")
        if _is_number(value) and np.isfinite(value):
            values.setdefault(tuple(run["point"]), []).append(float(value))
    outputs = []
    for point in record["points"]:
        found = values.get(tuple(point))
        if not found:
            shown = dict(zip(problem_of(record)["names"], point, strict=True))
            raise ConfigError(
                f"sweep_dir: no finished run with {metric} defined at the design point "
                f"{shown} (rerun the sweep to finish it), got {str(sweep_dir)!r}"
            )
        outputs.append(np.mean(found))
    return np.array(outputs)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def indices(record: dict, outputs: np.ndarray) -> pd.DataFrame:
    """The sensitivity indices of ``outputs`` (one per design point), one row per factor,
    ranked (most influential first)."""
    problem = problem_of(record)
    points = np.array(record["points"], dtype=float)
    if record["method"] == "morris":
        from SALib.analyze import morris

        found = morris.analyze(problem, points, outputs, num_levels=record["levels"],
                               seed=record["seed"])  # fmt: skip
        columns, rank = ["mu_star", "mu_star_conf", "sigma", "mu"], "mu_star"
    else:
        from SALib.analyze import sobol

        found = sobol.analyze(problem, outputs, calc_second_order=False, seed=record["seed"])
        columns, rank = ["ST", "ST_conf", "S1", "S1_conf"], "ST"
    table = pd.DataFrame({c: np.asarray(found[c], dtype=float) for c in columns})
    table.insert(0, "factor", problem["names"])
    return table.sort_values(rank, ascending=False, kind="stable").reset_index(drop=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Sensitivity indices (Morris or Sobol, by SALib) of a sweep run with "
        "hydra/sweeper=sensitivity.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the sensitivity sweep's folder")
    parser.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help="summary metrics, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write sensitivity_<metric>.csv and sensitivity.png there",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``peersim-sensitivity``."""
    args = _parser().parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    try:
        record = read_design(args.sweep_dir)
        tables = {m: indices(record, point_outputs(args.sweep_dir, record, m)) for m in metrics}
    except ConfigError as error:
        print(printable(f"{PROG}: {error}"), file=sys.stderr)
        return 2
    runs = len(record["runs"])
    print(f"{record['method']} design: {len(record['factors'])} factors, "
          f"{len(record['points'])} points, {runs} runs")  # fmt: skip
    for metric, table in tables.items():
        print(f"\n{metric}\n{table.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
    if args.out is not None:
        from sim.viz.sensitivity import plot_indices

        args.out.mkdir(parents=True, exist_ok=True)
        for metric, table in tables.items():
            table.to_csv(args.out / f"sensitivity_{metric}.csv", index=False)
        plot_indices(tables, record["method"], args.out / "sensitivity.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
