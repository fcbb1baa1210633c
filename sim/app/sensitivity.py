"""Sensitivity designs: which runs a global sensitivity analysis needs, drawn by SALib.

``hydra/sweeper=sensitivity`` (``conf/hydra/sweeper/sensitivity.yaml``, the sweeper in
``hydra_plugins/peersim_salib``) turns its ``factors`` (config keys, each with a range) into
runs: a Morris screening design (``samples`` trajectories of ``len(factors) + 1`` points on a
``levels`` grid) or a Sobol design (Saltelli's scheme, ``samples × (factors + 2)`` points),
drawn by SALib with ``seed``; ``select`` (a list of keys) keeps only some of the factors,
e.g. the top ones of a Morris screening for a Sobol analysis. Each design point is one set of
overrides; any sweep given on the command line (``replicate=range(0,3)``,
``contagion=none,social_learning``) is crossed with every point, the basic sweeper's way. The
same config draws the same design, so a rerun resumes the sweep like any other (done runs are
skipped), and the plan of the sweep (:mod:`sim.app.sweep_book`) lists every run before the
first starts.

The design is written into the sweep folder as :data:`DESIGN` (method, factors, the points,
and each run's folder), which :mod:`sim.app.sensitivity_report` reads back to compute the
indices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.errors import ConfigError

__all__ = [
    "DESIGN",
    "METHODS",
    "Design",
    "is_sensitivity",
    "jobs",
    "problem_of",
    "read_design",
    "record",
]

#: The design, written into the sweep folder by the sweeper.
DESIGN = "sensitivity.json"
METHODS = ("morris", "sobol")
#: Significant digits of a design value on the command line (and so in a folder name).
DIGITS = 6
_KEY = "hydra.sweeper"


@dataclass(frozen=True)
class Design:
    """A sensitivity design: the method, its factors (config key -> ``(low, high)``), the
    number of trajectories (Morris) or base samples (Sobol), Morris's grid levels, the seed."""

    method: str
    factors: dict[str, tuple[float, float]]
    samples: int
    levels: int
    seed: int

    @classmethod
    def from_config(cls, sweeper: Any) -> Design:
        """The design of a ``hydra.sweeper`` config node, checked.

        Raises:
            ConfigError: naming the ``hydra.sweeper`` key that is wrong.
        """
        method = str(sweeper.get("method"))
        if method not in METHODS:
            raise ConfigError(f"{_KEY}.method: must be one of {', '.join(METHODS)}, got {method!r}")
        for name, least in (("samples", 2), ("levels", 2), ("seed", 0)):
            value = sweeper.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(
                    f"{_KEY}.{name}: must be a whole number >= {least}, got {value!r}"
                )
        factors = dict(sweeper.get("factors") or {})
        if not factors:
            raise ConfigError(f"{_KEY}.factors: must name at least one config key, got {{}}")
        select = sweeper.get("select")
        if select is not None:
            unknown = [key for key in select if key not in factors]
            if unknown or not select:
                raise ConfigError(
                    f"{_KEY}.select: must list some of the factors ({', '.join(factors)}), "
                    f"got {list(select)!r}"
                )
            factors = {key: factors[key] for key in select}
        checked = {key: _range(key, bounds) for key, bounds in factors.items()}
        return cls(method, checked, sweeper.samples, sweeper.levels, sweeper.seed)

    @property
    def factor_list(self) -> list[dict]:
        """The factors as recorded: ``key``, ``low``, ``high``, in the points' column order."""
        return [{"key": k, "low": low, "high": high} for k, (low, high) in self.factors.items()]

    @property
    def problem(self) -> dict:
        """SALib's description of the factors."""
        return problem_of({"factors": self.factor_list})

    def points(self) -> np.ndarray:
        """The design's points (one row per point, one column per factor), drawn by SALib
        and rounded to :data:`DIGITS` significant digits, as the runs are given them."""
        if self.method == "morris":
            from SALib.sample import morris

            drawn = morris.sample(self.problem, self.samples, num_levels=self.levels,
                                  seed=self.seed)  # fmt: skip
        else:
            from SALib.sample import sobol

            drawn = sobol.sample(self.problem, self.samples, calc_second_order=False,
                                 seed=self.seed)  # fmt: skip
        return np.vectorize(lambda v: float(f"{v:.{DIGITS}g}"))(drawn)

    def overrides(self, point: np.ndarray) -> list[str]:
        """The overrides that give a run the point's values."""
        return [f"{key}={value!r}" for key, value in zip(self.factors, point.tolist(), strict=True)]


def _range(key: str, bounds: Any) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        low = high = None
    if low is None or not low < high:
        shown = list(bounds) if isinstance(bounds, list | tuple) else bounds
        raise ConfigError(
            f"{_KEY}.factors.{key}: must be [low, high] with low < high, got {shown!r}"
        )
    return low, high


def is_sensitivity(config: Any) -> bool:
    """Whether the sweep of ``config`` (a Hydra config) is a sensitivity design."""
    return str(config.hydra.sweeper.get("_target_", "")).endswith(".SensitivitySweeper")


def jobs(config: Any, swept: list[list[str]]) -> tuple[Design, list[list[str]]]:
    """The design of ``config`` and its runs' overrides: every distinct point (a Morris grid
    may draw one twice; it is run once) crossed with every combination in ``swept`` (the
    command line's sweep, split the basic sweeper's way).

    Raises:
        ConfigError: for a bad design, or a factor also set on the command line.
    """
    design = Design.from_config(config.hydra.sweeper)
    for combination in swept:
        for override in combination:
            key = override.partition("=")[0].lstrip("+~")
            if key in design.factors:
                raise ConfigError(
                    f"{_KEY}.factors: {key} is a factor of the design and may not also be "
                    f"set on the command line, got {override!r}"
                )
    distinct = dict.fromkeys(tuple(design.overrides(point)) for point in design.points())
    return design, [[*fixed, *combination] for fixed in distinct for combination in swept]


def record(design: Design, runs: list[list[str]], folders: list[str]) -> dict[str, Any]:
    """The design record (:data:`DESIGN`) of ``design`` and its ``runs`` (overrides, the
    factors first) in their ``folders``."""
    return {
        "method": design.method,
        # A list, in the order of the points' columns (the JSON writer sorts a dict's keys).
        "factors": design.factor_list,
        "samples": design.samples,
        "levels": design.levels,
        "seed": design.seed,
        "points": design.points().tolist(),
        "runs": [
            {
                "folder": folder,
                "point": [float(o.partition("=")[2]) for o in overrides[: len(design.factors)]],
            }
            for overrides, folder in zip(runs, folders, strict=True)
        ],
    }


def problem_of(record: dict) -> dict:
    """SALib's description of the factors of a design record, in the order of its points'
    columns."""
    factors = record["factors"]
    return {
        "num_vars": len(factors),
        "names": [f["key"] for f in factors],
        "bounds": [[f["low"], f["high"]] for f in factors],
    }


def read_design(sweep_dir: Path) -> dict:
    """The design record of a sensitivity sweep (:data:`DESIGN`).

    Raises:
        ConfigError: when the folder holds none (not a sensitivity sweep) or it is unreadable.
    """
    try:
        return json.loads((Path(sweep_dir) / DESIGN).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problem = "no sensitivity design" if isinstance(error, FileNotFoundError) else str(error)
        raise ConfigError(f"sweep_dir: {problem} in {sweep_dir} ({DESIGN})") from None
