"""The live dashboard's time per step: the model's step plus the redraw of its views (the
network picture and the time-series plots, encoded as the PNGs the page receives), the
median over many steps, with the one-off layout of a new model (a reset) apart.

    python benchmarks/dashboard_step.py --models 500 --steps 60
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.app.dashboard.model import DashboardEcosystem  # noqa: E402
from sim.app.dashboard.views import ModelPicture  # noqa: E402
from sim.viz.series import SeriesPanel, running_rates  # noqa: E402


def measure(models: int, steps: int, seed: int = 0) -> dict[str, float]:
    """Median seconds per step of the model, the network picture, the plots and the three
    together, the 90th percentile of the total, and the seconds to build a model and lay out
    its picture (a reset)."""
    start = time.perf_counter()
    model = DashboardEcosystem(n_agents=models, seed=seed)
    picture, panel = ModelPicture(model), SeriesPanel()
    picture.png()
    reset = time.perf_counter() - start
    times: dict[str, list[float]] = {"model": [], "network": [], "plots": [], "total": []}
    for _ in range(steps):
        t0 = time.perf_counter()
        model.step()
        t1 = time.perf_counter()
        picture.png()
        t2 = time.perf_counter()
        panel.update(running_rates(model.time_series()))
        panel.png()
        t3 = time.perf_counter()
        for name, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=True):
            times[name].append(seconds)
    slowest = statistics.quantiles(times["total"], n=10)[-1]  # steps with a round
    medians = {name: statistics.median(v) for name, v in times.items()}
    return {"reset": reset, **medians, "total_p90": slowest}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=500)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args(argv)
    found = measure(args.models, args.steps)
    print(f"{args.models} models, median of {args.steps} steps (ms): "
          + ", ".join(f"{k} {v * 1000:.0f}" for k, v in found.items() if k != "reset")
          + f"; reset (model + layout) {found['reset']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
