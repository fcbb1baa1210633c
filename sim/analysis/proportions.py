"""Intervals for proportions: Wilson's score interval for one, Newcombe's hybrid score
interval (his method 10) for the difference of two independent ones.

Both keep their bounds in range and behave at 0 and n successes, where the Wald interval
collapses to a point; Newcombe's interval is built from the two Wilson intervals.
"""

from __future__ import annotations

import math

from scipy import stats

__all__ = ["newcombe", "wilson"]


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion of ``k`` in ``n`` (NaN bounds for n = 0).

    Example:
        >>> [round(x, 4) for x in wilson(3, 10)]
        [0.1078, 0.6032]
    """
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def newcombe(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval of ``k1/n1 - k2/n2`` (NaN bounds when either n is 0).

    Example (Newcombe 1998, table II, example (a): 56/70 - 48/80):
        >>> [round(x, 4) for x in newcombe(56, 70, 48, 80)]
        [0.0524, 0.3339]
    """
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1, level), wilson(k2, n2, level)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )
