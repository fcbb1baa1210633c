"""The round's decision log: columns given per call, as arrays or one value, joined once;
the array helpers a round uses (run starts, medians by case)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.arrays import run_starts
from sim.model.round_log import RoundLog


def test_columns_join_arrays_and_expand_values():
    log = RoundLog()
    log.add(2, {"stage": 0, "flag": True, "score": np.array([1.5, 2.5]), "slot": np.array([4, 5])})
    log.add(0, {"stage": 3, "flag": False, "score": np.nan, "slot": np.empty(0, np.int64)})
    log.add(3, {"stage": 1, "flag": False, "score": np.nan, "slot": np.array([7, 8, 9])})
    joined = log.columns()
    assert joined["stage"].tolist() == [0, 0, 1, 1, 1]
    assert joined["stage"].dtype == np.intp
    assert joined["flag"].tolist() == [True, True, False, False, False]
    assert joined["flag"].dtype == bool
    assert joined["score"][:2].tolist() == [1.5, 2.5] and np.isnan(joined["score"][2:]).all()
    assert joined["slot"].tolist() == [4, 5, 7, 8, 9]


def test_columns_of_empty_calls_are_empty():
    log = RoundLog()
    log.add(0, {"stage": 2, "slot": np.empty(0, np.int64)})
    joined = log.columns()
    assert joined["stage"].size == 0 and joined["slot"].size == 0


def test_peer_decisions_of_every_call_come_first_and_dropped_actors_lose_self_ones():
    log = RoundLog()
    own = np.array([False, False, True, True])
    log.add(4, {"stage": 0, "actor": np.array([1, 2, 3, 4]), "self_target": own})
    log.add(3, {"stage": 1, "actor": np.array([5, 3, 4]), "self_target": own[1:]})
    log.add(1, {"stage": 2, "actor": np.array([6]), "self_target": False})
    dropped = np.zeros(7, bool)
    assert log.columns()["actor"].tolist() == [1, 2, 5, 6, 3, 4, 3, 4]
    dropped[4] = True  # caught in a peer case: its own case is not heard
    joined = log.columns(dropped)
    assert joined["actor"].tolist() == [1, 2, 5, 6, 3, 3]
    assert joined["stage"].tolist() == [0, 0, 1, 2, 0, 1]
    assert joined["self_target"].tolist() == [False] * 4 + [True] * 2


def test_a_call_must_list_its_peer_decisions_first():
    log = RoundLog()
    with pytest.raises(ValueError, match="self_target"):
        log.add(2, {"actor": np.array([1, 2]), "self_target": np.array([True, False])})


def test_run_starts_of_sorted_cases():
    assert run_starts(np.array([0, 0, 1, 3, 3, 3, 4])).tolist() == [0, 2, 3, 6]
    assert run_starts(np.empty(0, np.int64)).size == 0


def test_median_by_case_with_one_or_several_values_per_case():
    from sim.core.arrays import median_by_case

    one = median_by_case(np.array([0, 1, 2]), np.array([5.0, 1.0, 7.0]), 3)
    assert one.tolist() == [5.0, 1.0, 7.0]
    case, value = np.array([0, 0, 0, 1, 1, 2]), np.array([9.0, 1.0, 4.0, 2.0, 6.0, 3.0])
    # reviewed by 3 (median 4), by 2 (mean of the middle two), by 1
    assert median_by_case(case, value, 3).tolist() == [4.0, 4.0, 3.0]
    assert median_by_case(case, value, 3).tolist() == [
        np.median(value[case == k]) for k in range(3)
    ]
