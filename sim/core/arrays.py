"""Array helpers shared by the hot paths."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bernoulli_positions", "distinct", "geometric_gaps", "median_by_case", "run_starts"]


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of ``values``, sorted: what ``np.unique(values)`` returns, found
    by one sort (numpy 2.4's hash-based ``np.unique`` measured 4-8x slower on our arrays
    of thousands to millions of slot and edge ids)."""
    ordered = np.sort(values)
    if ordered.size < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in a sorted array (what ``np.unique``'s
    ``return_index`` gives for it, without sorting again)."""
    starts = np.empty(values.size, bool)
    starts[:1] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])  # np.diff's prepend copies
    return np.flatnonzero(starts)


def median_by_case(case: np.ndarray, value: np.ndarray, n_cases: int) -> np.ndarray:
    """Median of ``value`` within each case ``case[i]`` in ``range(n_cases)`` (every case has
    at least one value)."""
    if case.size == n_cases:  # one value per case (quorum 1): nothing to count or sort
        median = np.empty(n_cases)
        median[case] = value
        return median
    counts = np.bincount(case, minlength=n_cases)
    starts = np.cumsum(counts) - counts
    ordered = value[np.lexsort((value, case))]
    low, high = starts + (counts - 1) // 2, starts + counts // 2
    return 0.5 * (ordered[low] + ordered[high]) if ordered.size else np.zeros(n_cases)


def geometric_gaps(p: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """``rng.geometric(p, size)`` as floats: the same numbers from the same draws (exact:
    whole numbers below 2**53), about twice as fast for ``p < 1/3``.

    There numpy inverts one standard exponential per draw, ``ceil(E / -log1p(-p))``, calling
    the scalar ``log1p`` for every draw; here it is called once. Not ``log(1 - U)`` over an
    array: numpy's array log has CPU-specific SIMD code (AVX-512 or not) that may differ in
    the last bit, and then the same seed would not give the same run everywhere; array
    division and ceil are exact IEEE operations, the same on every CPU.
    """
    if p >= 1 / 3:  # numpy draws these by search, not inversion
        return rng.geometric(p, size).astype(float)
    gaps = rng.standard_exponential(size)
    gaps /= -math.log1p(-p)
    return np.ceil(gaps, out=gaps)


def bernoulli_positions(total: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions in ``range(total)`` (``total < 2**53``), each included independently
    with probability ``p``: the positions where one uniform per position would fall below
    ``p``, found by drawing the geometric gaps between them (about ``p * total`` draws
    instead of ``total``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> bool(np.all(np.diff(bernoulli_positions(1000, 0.1, rng)) > 0))
        True
    """
    if p <= 0 or total <= 0:
        return np.empty(0, np.int64)
    if p >= 1:
        return np.arange(total, dtype=np.int64)
    found, last = [], -1.0
    while last < total - 1:  # one chunk suffices but for a 5-sigma excess of gaps
        mean = (total - 1 - last) * p
        # Summed as floats: exact while below 2**53, so every position below ``total`` is;
        # the sums are monotone, so the first past ``total`` stays past it (no cap needed).
        ends = geometric_gaps(p, int(mean + 5.0 * mean**0.5 + 16), rng)
        ends[0] += last  # carried by the sum: exact, as every partial sum is
        np.cumsum(ends, out=ends)
        last = ends[-1]
        found.append(ends)
    ends = np.concatenate(found) if len(found) > 1 else found[0]
    return ends[: np.searchsorted(ends, total)].astype(np.int64)
