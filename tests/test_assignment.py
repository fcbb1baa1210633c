"""Evaluator assignment of sim/model/assignment.py on small hand-built trust networks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.core.params import GraphConfig, ScheduleConfig
from sim.model.assignment import UNKNOWN_EDGE, Cases, assign_evaluators, choose_reviewed
from sim.network.trust import TrustNetwork

CONSTANT = GraphConfig(trust_distribution="constant")
TARGETINGS = ("random", "hubs", "periphery")


def network(graph: nx.Graph, n: int) -> TrustNetwork:
    """A trust network on ``n`` slots (trust is constant: assignment ignores it)."""
    full = graph.copy()
    full.add_nodes_from(range(n))
    return TrustNetwork(full, n, CONSTANT, np.random.default_rng(0))


def in_neighbours(net: TrustNetwork, node: int) -> set[int]:
    """Slots with trust in ``node`` (edges ``src -> node``)."""
    return set(net.src[net.dst == node].tolist())


def assign(
    subjects, net, eligible, family=None, k=3, *, rotation=False, cross=False, seed=0, edges=False
):
    """``(case, evaluator)``, and with ``edges`` their edges, from :func:`assign_evaluators`."""
    family = np.zeros(net.n, np.int64) if family is None else np.asarray(family, np.int64)
    assigned = assign_evaluators(
        np.asarray(subjects, np.int64),
        net,
        np.asarray(eligible, bool),
        family,
        k,
        rotation=rotation,
        cross_family=cross,
        rng=np.random.default_rng(seed),
    )
    return assigned if edges else assigned[:2]


def by_case(case, evaluator, n_cases) -> list[list[int]]:
    return [evaluator[case == c].tolist() for c in range(n_cases)]


def mask(n, slots) -> np.ndarray:
    out = np.zeros(n, bool)
    out[list(slots)] = True
    return out


# --------------------------------------------------------------------------- invariants


@pytest.fixture(scope="module")
def mixed():
    """300 slots on a directed random graph, 60 eligible overseers, three families."""
    n = 300
    graph = nx.gnp_random_graph(n, 0.03, seed=5, directed=True)
    rng = np.random.default_rng(1)
    eligible = np.zeros(n, bool)
    eligible[rng.choice(n, 60, replace=False)] = True
    family = rng.integers(3, size=n)
    return network(graph, n), eligible, family


@pytest.mark.parametrize("rotation", [False, True])
@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_invariants(mixed, rotation, cross, k):
    net, eligible, family = mixed
    subjects = np.concatenate([np.arange(net.n), [7, 7]])  # a slot may be reviewed twice
    case, evaluator, edge = assign(
        subjects, net, eligible, family, k, rotation=rotation, cross=cross, seed=k, edges=True
    )
    assert case.shape == evaluator.shape == edge.shape
    # Each evaluator's edge to its subject, as a lookup finds it; under rotation, the random
    # evaluators' edges are left to be looked up.
    looked_up = edge == UNKNOWN_EDGE
    assert rotation or not looked_up.any()
    real = net.edge_ids(evaluator, subjects[case])
    assert (edge[~looked_up] == real[~looked_up]).all()
    assert (np.diff(case) >= 0).all()  # sorted by case
    assert (evaluator != subjects[case]).all()  # never the subject itself
    assert eligible[evaluator].all()  # only eligible overseers
    pairs = set(zip(case.tolist(), evaluator.tolist(), strict=True))
    assert len(pairs) == case.size  # no duplicate evaluator within a case
    counts = np.bincount(case, minlength=subjects.size)
    assert counts.max() <= k
    if cross:
        assert (family[evaluator] != family[subjects[case]]).all()
    # every pool here has at least 10 candidates, so every case is filled up to k
    assert (counts == k).all()


def test_same_seed_same_assignment(mixed):
    net, eligible, family = mixed
    subjects = np.arange(net.n)
    first = assign(subjects, net, eligible, family, 3, seed=9)
    second = assign(subjects, net, eligible, family, 3, seed=9)
    other = assign(subjects, net, eligible, family, 3, seed=10)
    assert (first[0] == second[0]).all() and (first[1] == second[1]).all()
    assert (first[1] != other[1]).any()


def test_no_subjects():
    net = network(nx.DiGraph([(1, 0)]), 3)
    case, evaluator = assign([], net, np.ones(3, bool))
    assert case.size == 0 and evaluator.size == 0


# --------------------------------------------------------------------------- neighbours first


def test_enough_eligible_in_neighbours_are_all_used():
    # subject 0 is trusted by 1..6 (in-neighbours) and trusts 7..30 itself (out-neighbours);
    # 31..60 are unrelated; every slot but 0 is eligible
    n = 61
    graph = nx.DiGraph([(i, 0) for i in range(1, 7)] + [(0, i) for i in range(7, 31)])
    net = network(graph, n)
    eligible = mask(n, range(1, n))
    seen = set()
    for seed in range(30):
        case, evaluator = assign([0], net, eligible, k=3, seed=seed)
        assert case.tolist() == [0, 0, 0]
        assert set(evaluator.tolist()) <= set(range(1, 7))
        seen |= set(evaluator.tolist())
    # in random order: over 30 draws each of the 6 in-neighbours is picked (P(miss one) ~1e-5)
    assert seen == set(range(1, 7))


def test_ineligible_and_same_family_in_neighbours_are_skipped():
    n = 40
    graph = nx.DiGraph([(i, 0) for i in range(1, 10)])
    net = network(graph, n)
    eligible = mask(n, range(3, n))  # in-neighbours 1, 2 are not overseers
    family = np.zeros(n, np.int64)
    family[[7, 8, 9]] = 1  # only 7, 8, 9 differ from the subject among the in-neighbours
    family[20:] = 1
    for seed in range(10):
        _, evaluator = assign([0], net, eligible, k=4, seed=seed)
        assert set(evaluator.tolist()) <= set(range(3, 10))
        _, evaluator = assign([0], net, eligible, family, k=3, cross=True, seed=seed)
        assert sorted(evaluator.tolist()) == [7, 8, 9]


def test_too_few_in_neighbours_are_topped_up_at_random():
    # subjects 0..99, each trusted by exactly one eligible overseer 100 + i
    n = 200
    graph = nx.DiGraph([(100 + i, i) for i in range(100)])
    net = network(graph, n)
    eligible = mask(n, range(100, n))
    subjects = np.arange(100)
    case, evaluator = assign(subjects, net, eligible, k=3, seed=3)
    fillers = []
    for c, chosen in enumerate(by_case(case, evaluator, 100)):
        assert len(chosen) == 3
        assert 100 + c in chosen  # the in-neighbour is always used
        others = [e for e in chosen if e != 100 + c]
        assert all(100 <= e < n for e in others)  # fillers are eligible overseers
        fillers += others
    # 200 fillers drawn uniformly from 99 candidates: far more than 50 distinct ones expected
    # (mean distinct ~ 99 (1 - e^-2) ~ 86)
    assert len(set(fillers)) > 50


@pytest.mark.parametrize("rotation", [False, True])
def test_fewer_eligible_than_k_gives_all_that_exist(rotation):
    n = 10
    net = network(nx.DiGraph([(3, 0), (5, 1)]), n)
    eligible = mask(n, [3, 5, 7])
    subjects = np.array([0, 1, 5, 2])
    for seed in range(20):
        case, evaluator = assign(subjects, net, eligible, k=5, rotation=rotation, seed=seed)
        chosen = by_case(case, evaluator, subjects.size)
        assert sorted(chosen[0]) == [3, 5, 7]
        assert sorted(chosen[1]) == [3, 5, 7]
        assert sorted(chosen[2]) == [3, 7]  # an eligible subject never evaluates itself
        assert sorted(chosen[3]) == [3, 5, 7]


@pytest.mark.parametrize("rotation", [False, True])
def test_sole_eligible_overseer_gets_no_evaluator(rotation):
    n = 6
    net = network(nx.DiGraph([(4, 0), (0, 4), (1, 4)]), n)
    eligible = mask(n, [4])
    case, evaluator = assign([4, 0, 1], net, eligible, k=2, rotation=rotation, seed=1)
    assert case.tolist() == [1, 2]
    assert evaluator.tolist() == [4, 4]


def test_cross_family_with_too_few_others_gives_all_of_them():
    n = 12
    net = network(nx.DiGraph(), n)
    eligible = mask(n, range(n))
    family = np.array([0] * 10 + [1, 1])
    case, evaluator = assign([0, 1, 10], net, eligible, family, k=3, cross=True, seed=2)
    chosen = by_case(case, evaluator, 3)
    assert sorted(chosen[0]) == [10, 11]
    assert sorted(chosen[1]) == [10, 11]
    assert len(chosen[2]) == 3 and set(chosen[2]) <= set(range(10))


@pytest.mark.parametrize("scenario", ["cross-family-needle", "nearly-whole-pool"])
def test_cases_are_filled_whenever_enough_overseers_exist(scenario):
    if scenario == "cross-family-needle":
        # 100 subjects of family 0, one eligible overseer (slot 100) of family 1
        n, k, cross = 101, 1, True
        family = np.array([0] * 100 + [1])
        subjects = np.arange(100)
    else:
        # 30 eligible overseers review each other, 29 evaluators wanted: all the others
        n, k, cross = 30, 29, False
        family = np.zeros(n, np.int64)
        subjects = np.arange(n)
    net = network(nx.DiGraph(), n)
    case, _ = assign(subjects, net, np.ones(n, bool), family, k, cross=cross, seed=0)
    assert (np.bincount(case, minlength=subjects.size) == k).all()


# --------------------------------------------------------------------------- rotation


@pytest.fixture(scope="module")
def sparse():
    """2000 slots on a Watts-Strogatz ring of degree 6, 20% eligible overseers."""
    n = 2000
    net = network(nx.watts_strogatz_graph(n, 6, 0.1, seed=4), n)
    eligible = np.random.default_rng(2).random(n) < 0.2
    return net, eligible


def neighbour_share(net, subjects, case, evaluator) -> float:
    ids = net.edge_ids(evaluator, subjects[case])
    return float(np.mean(ids >= 0))


def test_rotation_mostly_picks_strangers(sparse):
    net, eligible = sparse
    subjects = np.arange(net.n)
    case, evaluator = assign(subjects, net, eligible, k=3, rotation=True, seed=5)
    assert case.size == 3 * net.n
    # a random eligible overseer trusts the subject with probability ~ (6 * 0.2) / 400 = 0.003;
    # over 6000 evaluators the share has sd ~0.0007, so 0.03 is a very loose bound
    assert neighbour_share(net, subjects, case, evaluator) < 0.03


def test_without_rotation_neighbours_are_preferred(sparse):
    net, eligible = sparse
    subjects = np.arange(net.n)
    case, evaluator = assign(subjects, net, eligible, k=3, rotation=False, seed=5)
    # each subject has Binomial(6, 0.2) eligible in-neighbours (mean 1.2), all of them used
    # when at most 3: expected share ~ E[min(X, 3)] / 3 ~ 0.39; 0.3 leaves room for chance
    share = neighbour_share(net, subjects, case, evaluator)
    assert share > 0.3
    for s in range(0, net.n, 97):  # every eligible in-neighbour (up to k) is used
        known = {e for e in in_neighbours(net, s) if eligible[e]}
        chosen = set(evaluator[case == s].tolist())
        if len(known) <= 3:
            assert known <= chosen
        else:
            assert chosen <= known


# --- whom a round reviews -----------------------------------------------------------------


def reviewed(net, fraction, targeting, seed=0):
    schedule = ScheduleConfig(review_fraction=fraction, review_targeting=targeting)
    return choose_reviewed(net, schedule, np.random.default_rng(seed))


@pytest.fixture
def star_and_path():
    """Slot 0 is trusted by 6 models, slots 1-6 by 1 to 2, slots 7-9 by nobody."""
    graph = nx.DiGraph(list(nx.star_graph(6).edges) + [(i, i + 1) for i in range(1, 6)])
    graph.add_edges_from((i, 0) for i in range(1, 7))
    return network(graph, 10)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.5, 1.0])
def test_targetings_review_as_many_as_random_on_the_same_draws(star_and_path, fraction, seed):
    counts = {t: reviewed(star_and_path, fraction, t, seed).sum() for t in TARGETINGS}
    assert len(set(counts.values())) == 1, counts


@pytest.mark.parametrize("seed", range(20))
def test_hubs_are_the_most_trusted_and_periphery_the_least(star_and_path, seed):
    trusted_by = np.bincount(star_and_path.dst, minlength=10)
    hubs, periphery = (reviewed(star_and_path, 0.3, t, seed) for t in ("hubs", "periphery"))
    if hubs.any():
        assert trusted_by[hubs].min() >= trusted_by[~hubs].max()
        assert trusted_by[periphery].max() <= trusted_by[~periphery].min()
        assert hubs[0] and not periphery[0]  # the star's centre is the one hub


def test_ties_are_broken_at_random_not_by_slot(star_and_path):
    # Slots 7-9 are trusted by nobody: a periphery review of one slot picks among them.
    draws = [reviewed(star_and_path, 0.1, "periphery", seed) for seed in range(200)]
    picked = {int(np.nonzero(mask)[0][0]) for mask in draws if mask.sum() == 1}
    assert picked == {7, 8, 9}


def test_whole_fleet_reviewed_whatever_the_targeting(star_and_path):
    for targeting in TARGETINGS:
        assert reviewed(star_and_path, 1.0, targeting).all()


def test_random_review_draws_what_it_always_drew(star_and_path):
    # The default leaves the model's stream and so every pinned run as they were.
    draws = np.random.default_rng(4).random(10) < 0.4
    assert np.array_equal(reviewed(star_and_path, 0.4, "random", 4), draws)


def test_cases_only_keeps_and_renumbers():
    cases = Cases(
        subject=np.array([10, 11, 12, 13]),
        self_case=np.array([False, False, False, True]),
        pair_case=np.array([0, 0, 1, 2, 2, 3]),
        pair_evaluator=np.array([1, 2, 3, 4, 5, 13]),
        pair_edge=np.array([-1, 7, -1, 8, -1, -1]),
    )
    part = cases.only(np.array([True, False, True, True]))
    assert part.subject.tolist() == [10, 12, 13]
    assert part.self_case.tolist() == [False, False, True]
    assert part.pair_case.tolist() == [0, 0, 1, 1, 2]
    assert part.pair_evaluator.tolist() == [1, 2, 4, 5, 13]
    assert part.pair_edge.tolist() == [-1, 7, 8, -1, -1]
    assert part.lead.tolist() == [1, 4, 13]
