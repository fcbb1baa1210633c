"""Collaboration (sim/network/collaboration.py), the skipping draw behind it
(sim/core/arrays.py), its optional compiled kernel (sim/core/jit.py), and the numpy graph
generators (sim/network/generators.py)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.core import jit
from sim.core.arrays import bernoulli_positions, geometric_gaps
from sim.core.params import GraphConfig
from sim.network.collaboration import LEARN, Collaboration, pair_quality
from sim.network.generators import build_network, erdos_renyi, watts_strogatz
from sim.network.trust import TrustNetwork

CONSTANT = GraphConfig(trust_distribution="constant", trust_value=0.5)


def network_of(graph: nx.Graph, n: int) -> TrustNetwork:
    return TrustNetwork(graph, n, CONSTANT, np.random.default_rng(0))


@pytest.fixture
def ring_network():
    """Watts-Strogatz ring on 500 nodes: 3000 directed edges, all trust 0.5."""
    graph = nx.watts_strogatz_graph(500, 6, 0.1, seed=2)
    return network_of(graph, 500)


def test_collaborate_keeps_trust_in_unit_interval(ring_network):
    rng = np.random.default_rng(7)
    quality = rng.random(500)
    config = GraphConfig(collaboration_rate=0.5, trust_learning_rate=1.0)  # harshest update
    collaboration = Collaboration(ring_network, quality, config)
    for _ in range(500):
        collaboration.step(rng)
        assert ring_network.trust.min() >= 0.0 and ring_network.trust.max() <= 1.0
    # with learning rate 1 every collaborating edge jumps to the outcome 0 or 1
    assert set(np.unique(ring_network.trust)) <= {0.0, 0.5, 1.0}


@pytest.mark.parametrize("q", [0.9, 0.2])
def test_collaborate_moves_mean_trust_to_mean_quality(ring_network, q):
    config = GraphConfig(collaboration_rate=0.5, trust_learning_rate=0.1)
    rng = np.random.default_rng(8)
    collaboration = Collaboration(ring_network, np.full(500, q), config)
    for _ in range(300):
        collaboration.step(rng)
    # expected gap shrinks by (1 - 0.5 * 0.1) per step: 0.4 * 0.95**300 ~ 1e-7. At
    # stationarity each edge's trust has sd sqrt(0.1 / 1.9 * q (1 - q)) <= 0.09, so the
    # mean of 3000 roughly independent edges has sd <= 0.002; 0.01 is 5 sd.
    assert ring_network.trust.mean() == pytest.approx(q, abs=0.01)


def test_collaborate_uses_pair_mean_quality(ring_network):
    # quality 1 for half the nodes, 0 for the others: each edge heads to its pair's mean
    quality = (np.arange(500) % 2).astype(float)
    config = GraphConfig(collaboration_rate=0.5, trust_learning_rate=0.1)
    rng = np.random.default_rng(9)
    collaboration = Collaboration(ring_network, quality, config)
    for _ in range(300):
        collaboration.step(rng)
    pair = 0.5 * (quality[ring_network.src] + quality[ring_network.dst])
    for target in (0.0, 0.5, 1.0):
        edges = pair == target
        # pair means 0 and 1 give certain outcomes; 0.5 has the sd bound above
        assert ring_network.trust[edges].mean() == pytest.approx(target, abs=0.02)


def test_collaborate_with_zero_rate_does_nothing(ring_network):
    before = ring_network.trust.copy()
    rng = np.random.default_rng(10)
    state = rng.bit_generator.state
    collaboration = Collaboration(ring_network, np.ones(500), GraphConfig(collaboration_rate=0.0))
    for _ in range(50):
        collaboration.step(rng)
    assert (ring_network.trust == before).all()
    assert rng.bit_generator.state == state  # no draws consumed either


def test_collaborate_on_empty_network():
    network = network_of(nx.empty_graph(3), 3)
    Collaboration(network, np.ones(3), GraphConfig(collaboration_rate=1.0)).step(
        np.random.default_rng(0)
    )
    assert network.trust.size == 0


def test_refreshed_success_is_the_pair_mean_of_the_new_qualities(ring_network):
    rng = np.random.default_rng(11)
    quality = rng.random(500)
    collaboration = Collaboration(ring_network, quality, GraphConfig())
    assert np.array_equal(collaboration.success, pair_quality(ring_network, quality))
    slots = np.array([3, 250, 499])
    quality[slots] = [0.0, 1.0, 0.25]
    assert not np.array_equal(collaboration.success, pair_quality(ring_network, quality))
    collaboration.refresh(ring_network.touching(slots))  # kept until refreshed, then exact
    assert np.array_equal(collaboration.success, pair_quality(ring_network, quality))


# --------------------------------------------------------------------- skipping draws


@pytest.mark.parametrize("p", [0.001, 0.1, 0.5, 0.9])
def test_bernoulli_positions_include_each_position_with_probability_p(p):
    rng = np.random.default_rng(3)
    total, runs = 2_000, 400
    hits = np.zeros(total)
    for _ in range(runs):
        positions = bernoulli_positions(total, p, rng)
        assert (np.diff(positions) > 0).all() and positions.min(initial=0) >= 0
        assert positions.max(initial=0) < total
        hits[positions] += 1
    # the total count is Binomial(total * runs, p): 5 sd of it
    expected = total * runs * p
    assert hits.sum() == pytest.approx(expected, abs=5 * (expected * (1 - p)) ** 0.5)
    # no position favoured: the first and second halves agree within 5 sd of their difference
    half = hits[: total // 2].sum() - hits[total // 2 :].sum()
    assert abs(half) <= 5 * (expected * (1 - p)) ** 0.5


@pytest.mark.parametrize("p", [1e-7, 0.003, 0.1, 0.3, 1 / 3, 0.6, 1.0])
def test_geometric_gaps_are_numpys_geometric_draws(p):
    # The same numbers from the same stream as rng.geometric, so runs do not change; a numpy
    # release that draws geometrics differently fails here, not in the pinned runs.
    expected = np.random.default_rng(6).geometric(p, 20_000)
    got = geometric_gaps(p, 20_000, np.random.default_rng(6))
    assert got.dtype == float
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("total, p", [(1, 0.5), (6_000, 0.1), (60_000, 0.003), (999, 0.4)])
def test_bernoulli_positions_are_the_running_sums_of_numpys_geometric_gaps(total, p):
    for seed in range(20):
        got = bernoulli_positions(total, p, np.random.default_rng(seed))
        mean = total * p  # the first chunk's size, as bernoulli_positions draws it
        ends = np.cumsum(np.random.default_rng(seed).geometric(p, int(mean + 5 * mean**0.5 + 16)))
        assert ends[-1] >= total  # one chunk: the draws end past the last position
        assert got.dtype == np.int64
        assert np.array_equal(got, ends[ends <= total] - 1)


def test_bernoulli_positions_edge_cases():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert bernoulli_positions(10, 0.0, rng).size == 0
    assert bernoulli_positions(0, 0.5, rng).size == 0
    assert bernoulli_positions(5, 1.0, rng).tolist() == [0, 1, 2, 3, 4]
    assert rng.bit_generator.state == state  # certain answers draw nothing
    first = bernoulli_positions(10**6, 0.01, np.random.default_rng(4))
    again = bernoulli_positions(10**6, 0.01, np.random.default_rng(4))
    assert np.array_equal(first, again)


# --------------------------------------------------------------------- compiled kernel


def _learning_inputs(seed: int, edges: int = 600_000):
    rng = np.random.default_rng(seed)
    chosen = bernoulli_positions(edges, 0.2, rng)
    return rng.random(edges), rng.random(edges), chosen, rng.random(chosen.size)


def test_learning_kernel_numpy_and_compiled_give_identical_trust():
    pytest.importorskip("numba")
    success, trust, chosen, draws = _learning_inputs(5)
    by_numpy, by_loop = trust.copy(), trust.copy()
    LEARN.vectorised(success, by_numpy, chosen, draws, 0.1)
    LEARN.compiled()(success, by_loop, chosen, draws, 0.1)
    assert not np.array_equal(by_numpy, trust)  # something was learnt
    assert np.array_equal(by_numpy, by_loop)  # bit for bit


def test_forcing_numpy_skips_the_compiled_loop(monkeypatch):
    success, trust, chosen, draws = _learning_inputs(6)
    monkeypatch.setattr(jit, "FORCE_NUMPY", True)
    monkeypatch.setattr(LEARN, "compiled", lambda: pytest.fail("compiled loop used"))
    LEARN(chosen.size, success, trust, chosen, draws, 0.1)
    expected = np.where(draws < success[chosen], 1.0, 0.0)
    assert np.allclose(trust[chosen], 0.9 * _learning_inputs(6)[1][chosen] + 0.1 * expected)


def test_small_inputs_run_in_numpy(monkeypatch):
    success, trust, chosen, draws = _learning_inputs(7, edges=1_000)
    monkeypatch.setattr(LEARN, "compiled", lambda: pytest.fail("compiled loop used"))
    LEARN(chosen.size, success, trust, chosen, draws, 0.1)


@pytest.mark.parametrize("force_numpy", [False, True])
def test_a_large_fleet_runs_the_same_either_way(monkeypatch, force_numpy):
    """A fleet large enough for the compiled loop gives the same trust with it or without."""
    if not force_numpy:
        pytest.importorskip("numba")
    monkeypatch.setattr(jit, "FORCE_NUMPY", force_numpy)
    monkeypatch.setattr(jit, "MIN_COMPILED", 1_000)  # this fleet's 60,000 events a step
    config = GraphConfig(collaboration_rate=0.5)
    network = build_network(config, 20_000, None, np.random.default_rng(8))
    rng = np.random.default_rng(9)
    collaboration = Collaboration(network, rng.random(network.n), config)
    for _ in range(3):
        collaboration.step(rng)
    reference = _fleet_trust_in_numpy()
    assert np.array_equal(network.trust, reference)


def _fleet_trust_in_numpy() -> np.ndarray:
    config = GraphConfig(collaboration_rate=0.5)
    network = build_network(config, 20_000, None, np.random.default_rng(8))
    rng = np.random.default_rng(9)
    success = pair_quality(network, rng.random(network.n))
    for _ in range(3):
        edges = bernoulli_positions(network.n_edges, 0.5, rng)
        LEARN.vectorised(success, network.trust, edges, rng.random(edges.size), 0.1)
    return network.trust


# --------------------------------------------------------------------- generators


@pytest.mark.parametrize("n, p", [(2, 0.5), (10, 0.3), (300, 0.05), (3_000, 0.002)])
def test_erdos_renyi_edges_are_distinct_pairs_at_rate_p(n, p):
    rng = np.random.default_rng(n)
    counts = []
    for _ in range(200):
        u, v = erdos_renyi(n, p, rng)
        assert (u < v).all() and (u >= 0).all() and (v < n).all()
        assert np.unique(u * n + v).size == u.size
        counts.append(u.size)
    pairs = n * (n - 1) / 2
    # the mean of 200 Binomial(pairs, p) counts: 5 sd
    assert np.mean(counts) == pytest.approx(pairs * p, abs=5 * (pairs * p * (1 - p) / 200) ** 0.5)


def test_erdos_renyi_with_p_one_is_complete():
    u, v = erdos_renyi(6, 1.0, np.random.default_rng(0))
    assert sorted(zip(u.tolist(), v.tolist(), strict=True)) == sorted(
        (i, j) for j in range(6) for i in range(j)
    )


@pytest.mark.parametrize("n, k, p", [(10, 4, 0.5), (12, 10, 1.0), (500, 6, 0.0), (2_000, 6, 0.1)])
def test_watts_strogatz_keeps_the_edge_count_without_loops_or_repeats(n, k, p):
    u, v = watts_strogatz(n, k, p, np.random.default_rng(1))
    assert u.size == n * (k // 2)
    assert (u < v).all() and np.unique(u * n + v).size == u.size


def test_watts_strogatz_without_rewiring_is_the_ring_lattice():
    u, v = watts_strogatz(8, 4, 0.0, np.random.default_rng(0))
    ring = nx.watts_strogatz_graph(8, 4, 0.0)
    assert set(zip(u.tolist(), v.tolist(), strict=True)) == {tuple(sorted(e)) for e in ring.edges}


def test_watts_strogatz_matches_networkx_in_clustering_and_degree():
    """Mean clustering and degree variance over 10 graphs each of n = 2000, k = 6, p = 0.1:
    theory gives clustering 0.6 (1 - p)^3 = 0.437; the networkx and numpy means of 10 graphs
    each have sd about 0.003, so 0.015 is 3.5 sd of their difference."""
    ours, theirs = [], []
    for seed in range(10):
        u, v = watts_strogatz(2_000, 6, 0.1, np.random.default_rng(seed))
        graph = nx.Graph()
        graph.add_nodes_from(range(2_000))
        graph.add_edges_from(zip(u.tolist(), v.tolist(), strict=True))
        ours.append(nx.average_clustering(graph))
        theirs.append(nx.average_clustering(nx.watts_strogatz_graph(2_000, 6, 0.1, seed=seed)))
    assert np.mean(ours) == pytest.approx(np.mean(theirs), abs=0.015)
    assert np.mean(ours) == pytest.approx(0.6 * 0.9**3, abs=0.015)


def test_network_from_links_matches_network_from_the_same_graph():
    u, v = watts_strogatz(300, 6, 0.2, np.random.default_rng(2))
    graph = nx.Graph()
    graph.add_nodes_from(range(300))
    graph.add_edges_from(zip(u.tolist(), v.tolist(), strict=True))
    from_graph = TrustNetwork(graph, 300, CONSTANT, np.random.default_rng(0))
    from_links = TrustNetwork.from_links(u, v, 300, CONSTANT, np.random.default_rng(0))
    for name in ("src", "dst", "indptr", "in_edges", "in_src", "in_indptr", "trust"):
        assert np.array_equal(getattr(from_graph, name), getattr(from_links, name)), name
