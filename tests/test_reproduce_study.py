"""experiments/reproduce_study at reduced size: a few of the study's rows, one of each kind
(a point rate, an average, a faking gap, an "up to" maximum, the control), reproduced by the
dyad with 400 decisions per cell.

Tolerance: a row passes when its published number lies in the simulated 99.9% interval
(Wilson, or Newcombe's for differences). With the profiles built to match these
rows, a correct engine fails one row by chance about once in a thousand seeds; the seed is
fixed, so the test is deterministic.
"""

from __future__ import annotations

from experiments.reproduce_study.reproduce import Estimate, difference, rate, reproduce

ROWS = [1, 5, 6, 14, 35]


def test_a_few_published_rows_are_reproduced():
    table = reproduce(decisions=400, seed=3, rows=ROWS, level=0.999)
    assert table["row"].tolist() == ROWS
    assert (table["n"] >= 300).all()
    assert (table["verdict"] == "reproduced").all(), table.to_string()


def test_a_conflicting_row_is_listed_with_its_reason():
    (row,) = reproduce(decisions=200, seed=3, rows=[32], level=0.999).itertuples()
    assert row.verdict.startswith("NOT reproduced (by design: not used, conflicts with row 1")


def test_a_lower_bound_is_not_reproducible_by_design():
    (row,) = reproduce(decisions=10, rows=[28]).itertuples()
    assert row.n == 0 and row.verdict.startswith("not reproducible by design: a lower bound")


def test_rates_and_differences_carry_score_intervals():
    zero, half = rate((0, 100), 0.95), rate((50, 100), 0.95)
    assert zero.value == 0 and zero.low == 0 and abs(zero.high - 0.0370) < 1e-4  # z^2/(n+z^2)
    assert abs(half.low - 0.4038) < 1e-4 and abs(half.high - 0.5962) < 1e-4 and half.n == 100
    gap = difference((56, 70), (48, 80), 0.95)  # Newcombe 1998, table II, example (a)
    assert abs(gap.value - 0.2) < 1e-12 and gap.n == 70
    assert abs(gap.low - 0.0524) < 1e-4 and abs(gap.high - 0.3339) < 1e-4
    assert Estimate(0.1, 0.05, 0.15, 100).covers(0.15)
