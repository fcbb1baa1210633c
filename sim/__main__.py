"""``python -m sim``: run the default fleet on the calibrated engine and print its summary."""

from __future__ import annotations

import argparse

from sim.model import Ecosystem


def main(argv: list[str] | None = None) -> None:
    """Run an ecosystem with default parameters and print the per-run metrics."""
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="steps to run (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.steps < 0:
        parser.error(f"--steps: must be >= 0, got {args.steps}")
    model = Ecosystem(seed=args.seed)
    model.run(args.steps)
    width = max(map(len, model.summary()))
    for key, value in model.summary().items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")


if __name__ == "__main__":
    main()
