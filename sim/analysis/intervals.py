"""Confidence intervals of a mean over runs: Student's t interval, or the percentile bootstrap
with a seeded numpy Generator. NaN values (a metric a run could not compute) are left out and
counted."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

__all__ = ["BOOTSTRAP", "LEVEL", "METHODS", "RESAMPLES", "T_INTERVAL", "Interval", "generator",
           "interval"]  # fmt: skip

T_INTERVAL = "t"
BOOTSTRAP = "bootstrap"
METHODS = (T_INTERVAL, BOOTSTRAP)
LEVEL = 0.95
#: Bootstrap resamples: the Monte Carlo error of a 95% percentile bound is then well under
#: a tenth of the interval's width.
RESAMPLES = 10_000
#: Resampled values drawn at once, so that many seeds never need a huge index array.
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Interval:
    """A mean with its interval: ``n`` values used, ``n_nan`` left out as NaN; ``sd`` is the
    sample standard deviation (ddof 1). ``sd``, ``low`` and ``high`` are NaN below two values,
    and every field but the counts is NaN with none."""

    mean: float
    sd: float
    n: int
    n_nan: int
    low: float
    high: float


def generator(seed: int, *labels: str) -> np.random.Generator:
    """A Generator for one cell of a table, from ``seed`` and the cell's labels, so that a
    cell's bootstrap draws do not depend on which other cells are computed, or in what order.

    Example:
        >>> a = generator(0, "loss_of_control", "contagion=none").random()
        >>> a == generator(0, "loss_of_control", "contagion=none").random()
        True
    """
    key = tuple(zlib.crc32(label.encode("utf-8")) for label in labels)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def interval(
    values: object,
    *,
    method: str = T_INTERVAL,
    level: float = LEVEL,
    rng: np.random.Generator | None = None,
    resamples: int = RESAMPLES,
) -> Interval:
    """The mean of ``values`` (NaN left out and counted) with its ``level`` confidence interval.

    Args:
        values: numbers; NaN marks a value that is missing.
        method: ``"t"``: mean ± t(level, n−1)·sd/√n; ``"bootstrap"``: the percentile interval
            of the means of ``resamples`` resamples (with replacement) drawn by ``rng``.
        level: the confidence level, in (0, 1).
        rng: the Generator of the bootstrap (required for it; see :func:`generator`).
        resamples: bootstrap resamples.

    Raises:
        ValueError: an unknown method, a level outside (0, 1), or a bootstrap without ``rng``.

    Example:
        >>> round(interval([1.0, 2.0, 3.0, float("nan")]).high, 4)
        4.4841
    """
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r} (allowed: {', '.join(METHODS)})")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method == BOOTSTRAP and rng is None:
        raise ValueError("the bootstrap needs a seeded Generator (rng)")
    x = np.asarray(values, dtype=float).ravel()
    missing = np.isnan(x)
    x, n_nan = x[~missing], int(missing.sum())
    n = x.size
    if n == 0:
        return Interval(np.nan, np.nan, 0, n_nan, np.nan, np.nan)
    mean = float(x.mean())
    if n < 2:  # no spread to estimate: the interval is undefined, not zero-width
        return Interval(mean, np.nan, n, n_nan, np.nan, np.nan)
    sd = float(x.std(ddof=1))
    if method == T_INTERVAL:
        half = _t_critical(level, n - 1) * sd / math.sqrt(n)
        return Interval(mean, sd, n, n_nan, mean - half, mean + half)
    means = _resampled_means(x, rng, resamples)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(mean, sd, n, n_nan, float(low), float(high))


@lru_cache(maxsize=256)
def _t_critical(level: float, dof: int) -> float:
    """The two-sided critical value, cached: a time-series table asks for the same few
    thousands of times, and scipy's quantile function is slow next to the mean itself."""
    return float(stats.t.ppf((1 + level) / 2, dof))


def _resampled_means(x: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    rows = max(1, _CHUNK // x.size)
    parts = []
    for start in range(0, resamples, rows):
        index = rng.integers(0, x.size, size=(min(rows, resamples - start), x.size))
        parts.append(x[index].mean(axis=1))
    return np.concatenate(parts)
