"""The trust graph of sim/network/trust.py: topologies, graph files, edge arrays, trust dynamics."""

from __future__ import annotations

import functools
import random

import networkx as nx
import numpy as np
import pytest

from sim.core.errors import ConfigError
from sim.core.params import GraphConfig
from sim.network.trust import (
    RELATIONSHIPS,
    TrustNetwork,
    build_topology,
    classify_trust,
    draw_trust,
)

N = 2000
GOOD, NEUTRAL, BAD, NONE = (RELATIONSHIPS.index(r) for r in ("good", "neutral", "bad", "none"))
CONSTANT = GraphConfig(trust_distribution="constant", trust_value=0.5)


@functools.cache
def built(topology: str, seed: int = 11, **overrides) -> nx.Graph:
    """One generated topology on N nodes (cached: the tests only read it)."""
    return build_topology(GraphConfig(topology=topology, **overrides), N, random.Random(seed))


def mean_degree(graph: nx.Graph) -> float:
    return 2 * graph.number_of_edges() / graph.number_of_nodes()


def network_of(graph: nx.Graph, n: int | None = None, config: GraphConfig = CONSTANT, seed=0):
    n = graph.number_of_nodes() if n is None else n
    return TrustNetwork(graph, n, config, np.random.default_rng(seed))


# --------------------------------------------------------------------------- topologies


@pytest.mark.parametrize(
    "topology, tolerance",
    [
        # edges ~ Binomial(N(N-1)/2, p): sd of the mean degree = 2 sqrt(6000) / 2000 ~ 0.08,
        # so 0.35 is over 4 sd
        ("erdos_renyi", 0.35),
        # a ring lattice with k = 6 rewired keeps exactly N k / 2 edges
        ("watts_strogatz", 1e-9),
        # m = 3 edges per new node after the m seed nodes: 2 m (N - m) / N = 5.991
        ("barabasi_albert", 0.02),
        # sum of independent Bernoulli blocks, same spread as erdos_renyi
        ("labs", 0.35),
    ],
)
def test_mean_degree_matches_config(topology, tolerance):
    graph = built(topology)
    assert sorted(graph.nodes) == list(range(N))
    assert mean_degree(graph) == pytest.approx(6.0, abs=tolerance)
    assert nx.number_of_selfloops(graph) == 0


def test_complete_graph_has_degree_n_minus_one():
    graph = built("complete")
    assert graph.number_of_nodes() == N
    assert mean_degree(graph) == N - 1


@pytest.mark.parametrize("topology", ["erdos_renyi", "watts_strogatz", "barabasi_albert", "labs"])
def test_same_seed_same_graph(topology):
    again = build_topology(GraphConfig(topology=topology), N, random.Random(11))
    assert sorted(again.edges) == sorted(built(topology).edges)
    other = build_topology(GraphConfig(topology=topology), N, random.Random(12))
    assert sorted(other.edges) != sorted(again.edges)


def test_same_seed_same_graph_complete():
    config = GraphConfig(topology="complete")
    first = build_topology(config, 60, random.Random(1))
    second = build_topology(config, 60, random.Random(1))
    assert sorted(first.edges) == sorted(second.edges)


@pytest.mark.parametrize("lab_mixing", [0.05, 0.2])
def test_labs_keep_most_edges_inside(lab_mixing):
    graph = built("labs", lab_mixing=lab_mixing, n_labs=4)
    lab = np.arange(N) // (N // 4)  # labs of 500 consecutive nodes
    edges = np.array(graph.edges)
    inside = np.mean(lab[edges[:, 0]] == lab[edges[:, 1]])
    # ~6000 edges; the across count is ~Poisson(6000 * lab_mixing), sd <= sqrt(1200)/6000
    # = 0.006 of the share, so 0.025 is over 4 sd
    assert inside == pytest.approx(1 - lab_mixing, abs=0.025)
    assert mean_degree(graph) == pytest.approx(6.0, abs=0.35)


@pytest.mark.parametrize("topology", ["erdos_renyi", "watts_strogatz", "barabasi_albert", "labs"])
def test_mean_degree_too_large_for_n(topology):
    config = GraphConfig(topology=topology, mean_degree=10.0)
    with pytest.raises(ConfigError, match=r"^graph\.mean_degree:"):
        build_topology(config, 10, random.Random(0))
    # exactly n - 1 is allowed (n = 11: an even degree for the generators that need one);
    # labs need it inside one lab
    config = GraphConfig(topology=topology, mean_degree=10.0, n_labs=1)
    graph = build_topology(config, 11, random.Random(0))
    assert graph.number_of_nodes() == 11


@pytest.mark.parametrize(
    ("n", "config"),
    [
        (1, GraphConfig(topology="barabasi_albert", mean_degree=0.0)),
        (10, GraphConfig(topology="barabasi_albert", mean_degree=0.0)),
        (20, GraphConfig(topology="labs", mean_degree=10.0, n_labs=4)),
        (20, GraphConfig(topology="labs", mean_degree=12.0, n_labs=2, lab_mixing=1.0)),
    ],
)
def test_unrealisable_degree_is_rejected(n, config):
    with pytest.raises(ConfigError, match=r"^graph\.mean_degree:"):
        build_topology(config, n, random.Random(0))


@pytest.mark.parametrize("topology", ["watts_strogatz", "barabasi_albert"])
def test_odd_mean_degree_is_rejected(topology):
    # Both generators add edges in pairs (k/2 ring neighbours a side; m edges per new node,
    # mean degree 2m), so an odd mean degree cannot be realised.
    with pytest.raises(ConfigError, match=r"^graph\.mean_degree: must be an even whole number"):
        GraphConfig(topology=topology, mean_degree=5.0)


# --------------------------------------------------------------------------- graph files


def file_config(path) -> GraphConfig:
    return GraphConfig(topology="file", path=str(path))


def test_graphml_file_directed_with_trust(tmp_path):
    source = nx.DiGraph()
    source.add_nodes_from(range(5))
    trusts = {(0, 1): 0.9, (1, 0): 0.2, (2, 3): 0.55, (4, 0): 0.0, (3, 4): 1.0}
    source.add_weighted_edges_from(((u, v, t) for (u, v), t in trusts.items()), weight="trust")
    path = tmp_path / "fleet.graphml"
    nx.write_graphml(source, path)

    graph = build_topology(file_config(path), 5, random.Random(0))
    assert graph.is_directed()
    assert {(u, v): d["trust"] for u, v, d in graph.edges(data=True)} == trusts
    network = network_of(graph, 5)
    assert network.n_edges == len(trusts)  # directed: no mirrored edges
    found = network.edge_ids(np.array([u for u, _ in trusts]), np.array([v for _, v in trusts]))
    assert network.trust[found] == pytest.approx(list(trusts.values()))


def test_edge_list_file_is_undirected_with_trust(tmp_path):
    path = tmp_path / "fleet.txt"
    path.write_text("0 1 0.8\n1 2 0.25\n2 3 0.6\n")
    graph = build_topology(file_config(path), 4, random.Random(0))
    assert not graph.is_directed()
    network = network_of(graph, 4)
    assert network.n_edges == 6  # every line gives both directions
    src = np.array([0, 1, 1, 2, 2, 3])
    dst = np.array([1, 0, 2, 1, 3, 2])
    ids = network.edge_ids(src, dst)
    assert (ids >= 0).all()
    assert network.trust[ids] == pytest.approx([0.8, 0.8, 0.25, 0.25, 0.6, 0.6])


def test_edges_without_trust_get_drawn_trust(tmp_path):
    path = tmp_path / "fleet.graphml"
    source = nx.path_graph(4)
    source.edges[0, 1]["trust"] = 0.1
    nx.write_graphml(source, path)
    graph = build_topology(file_config(path), 4, random.Random(0))
    network = network_of(graph, 4, GraphConfig(trust_distribution="constant", trust_value=0.77))
    ids = network.edge_ids(np.array([0, 1, 1, 2]), np.array([1, 0, 2, 1]))
    assert network.trust[ids] == pytest.approx([0.1, 0.1, 0.77, 0.77])


@pytest.mark.parametrize("suffix", [".graphml", ".txt"])
def test_file_node_count_mismatch(tmp_path, suffix):
    path = tmp_path / f"fleet{suffix}"
    if suffix == ".graphml":
        nx.write_graphml(nx.path_graph(5), path)
    else:
        path.write_text("0 1 0.5\n1 2 0.5\n2 3 0.5\n3 4 0.5\n")
    with pytest.raises(ConfigError, match=r"^population\.n_agents:.*5 nodes"):
        build_topology(file_config(path), 6, random.Random(0))


def test_missing_file_names_graph_path(tmp_path):
    path = tmp_path / "nowhere.graphml"
    with pytest.raises(ConfigError, match=r"^graph\.path:") as info:
        build_topology(file_config(path), 5, random.Random(0))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("suffix", [".graphml", ".txt"])
def test_file_trust_out_of_range(tmp_path, suffix):
    path = tmp_path / f"fleet{suffix}"
    if suffix == ".graphml":
        source = nx.DiGraph()
        source.add_edge(0, 1, trust=0.5)
        source.add_edge(1, 0, trust=1.5)
        nx.write_graphml(source, path)
    else:
        path.write_text("0 1 0.5\n1 0 1.5\n")
    with pytest.raises(ConfigError, match=r"^graph\.path:.*1\.5"):
        build_topology(file_config(path), 2, random.Random(0))


def test_unreadable_file_names_graph_path(tmp_path):
    path = tmp_path / "fleet.graphml"
    path.write_text("this is not xml")
    with pytest.raises(ConfigError, match=r"^graph\.path: cannot read"):
        build_topology(file_config(path), 2, random.Random(0))


# --------------------------------------------------------------------------- TrustNetwork


@pytest.fixture(scope="module")
def random_network():
    """A directed random graph with a few self-loops, to exercise the edge arrays."""
    graph = nx.gnp_random_graph(60, 0.08, seed=3, directed=True)
    graph.add_edges_from([(5, 5), (17, 17)])
    return graph, network_of(graph, 60, GraphConfig(), seed=4)


def test_edges_sorted_and_no_self_loops(random_network):
    graph, network = random_network
    pairs = list(zip(network.src.tolist(), network.dst.tolist(), strict=True))
    assert pairs == sorted(pairs)
    assert len(set(pairs)) == len(pairs)
    assert (network.src != network.dst).all()
    expected = {(u, v) for u, v in graph.edges if u != v}
    assert set(pairs) == expected
    assert network.n_edges == len(expected)
    assert network.trust.shape == (network.n_edges,)


def test_undirected_graph_gives_both_directions():
    network = network_of(nx.Graph([(0, 1), (1, 2), (2, 2)]), 3)
    assert list(zip(network.src.tolist(), network.dst.tolist(), strict=True)) == [
        (0, 1),
        (1, 0),
        (1, 2),
        (2, 1),
    ]


def test_indptr_consistent_with_edges(random_network):
    _, network = random_network
    n = network.n
    assert network.indptr.shape == (n + 1,)
    assert network.indptr[0] == 0 and network.indptr[-1] == network.n_edges
    for i in range(n):
        out = slice(network.indptr[i], network.indptr[i + 1])
        assert (network.src[out] == i).all()
        assert np.count_nonzero(network.src == i) == network.indptr[i + 1] - network.indptr[i]
    assert (network.out_degree() == np.bincount(network.src, minlength=n)).all()


def test_in_indptr_consistent_with_edges(random_network):
    _, network = random_network
    assert network.in_indptr[-1] == network.n_edges
    assert sorted(network.in_edges.tolist()) == list(range(network.n_edges))
    for j in range(network.n):
        ids = network.in_edges[network.in_indptr[j] : network.in_indptr[j + 1]]
        assert sorted(ids.tolist()) == np.nonzero(network.dst == j)[0].tolist()


def test_edge_ids_finds_every_edge_and_rejects_absent_pairs(random_network):
    _, network = random_network
    assert (network.edge_ids(network.src, network.dst) == np.arange(network.n_edges)).all()
    present = set(zip(network.src.tolist(), network.dst.tolist(), strict=True))
    src, dst = np.meshgrid(np.arange(network.n), np.arange(network.n), indexing="ij")
    ids = network.edge_ids(src.ravel(), dst.ravel())
    for s, d, e in zip(src.ravel(), dst.ravel(), ids, strict=True):
        if (s, d) in present:
            assert (network.src[e], network.dst[e]) == (s, d)
        else:
            assert e == -1


def test_edge_ids_on_empty_network():
    network = network_of(nx.empty_graph(4), 4)
    assert network.n_edges == 0
    assert network.edge_ids(np.array([0, 1]), np.array([1, 0])).tolist() == [-1, -1]


def test_edge_ids_last_node_pairs():
    # the searchsorted position past the end is clamped, never an out-of-range index
    network = network_of(nx.DiGraph([(0, 1)]), 3)
    assert network.edge_ids(np.array([2, 0, 1]), np.array([1, 1, 2])).tolist() == [-1, 0, -1]


def test_in_edges_of_groups_by_owner(random_network):
    _, network = random_network
    nodes = np.array([7, 3, 3, 59, 0])
    owner, edges = network.in_edges_of(nodes)
    assert (np.diff(owner) >= 0).all()  # grouped in owner order
    for index, node in enumerate(nodes):
        mine = edges[owner == index]
        assert sorted(mine.tolist()) == np.nonzero(network.dst == node)[0].tolist()
    assert (network.dst[edges] == nodes[owner]).all()


def test_in_edges_of_nothing():
    network = network_of(nx.DiGraph([(0, 1)]), 2)
    owner, edges = network.in_edges_of(np.array([], np.int64))
    assert owner.size == 0 and edges.size == 0
    owner, edges = network.in_edges_of(np.array([0]))  # node 0 has no in-edges
    assert owner.size == 0 and edges.size == 0


def test_touching(random_network):
    _, network = random_network
    slots = np.array([2, 40])
    expected = np.nonzero(np.isin(network.src, slots) | np.isin(network.dst, slots))[0]
    assert network.touching(slots).tolist() == expected.tolist()
    assert network.touching(np.array([], np.int64)).size == 0


def test_touching_many_slots_marks_the_same_edges(random_network):
    # Past a thirty-second of the edges, touching marks edges instead of sorting ids.
    _, network = random_network
    slots = np.arange(0, network.n, 2)
    expected = np.nonzero(np.isin(network.src, slots) | np.isin(network.dst, slots))[0]
    ids = np.isin(network.src, slots).sum() + np.isin(network.dst, slots).sum()
    assert 32 * ids >= network.n_edges  # the marking path
    assert network.touching(slots).tolist() == expected.tolist()


def test_to_networkx_round_trips_trust_and_node_attributes(random_network):
    _, network = random_network
    family = np.arange(network.n) % 3
    exported = network.to_networkx({"family": family})
    assert isinstance(exported, nx.DiGraph)
    assert exported.number_of_nodes() == network.n
    assert exported.number_of_edges() == network.n_edges
    for e in range(network.n_edges):
        s, d = int(network.src[e]), int(network.dst[e])
        assert exported.edges[s, d]["trust"] == network.trust[e]
    assert exported.nodes[5]["family"] == 2
    assert isinstance(exported.nodes[5]["family"], int)  # numpy scalars are unwrapped
    again = network_of(exported, network.n, GraphConfig(trust_distribution="constant"))
    assert (again.src == network.src).all() and (again.dst == network.dst).all()
    assert (again.trust == network.trust).all()


# --------------------------------------------------------------------------- draw_trust

SIZE = 100_000


@pytest.mark.parametrize(
    "overrides, mean, lo, hi, tolerance",
    [
        # Beta(4, 2): mean 2/3, sd 0.178; se of the mean over 1e5 draws 0.0006 -> 0.003 is 5 se
        ({"trust_distribution": "beta"}, 4 / 6, 0.0, 1.0, 0.003),
        # Beta(1, 1): sd 0.289, se 0.0009 -> 0.005 is over 5 se
        ({"trust_distribution": "beta", "trust_a": 1.0, "trust_b": 1.0}, 0.5, 0.0, 1.0, 0.005),
        # Uniform(0.2, 0.6): sd 0.115, se 0.0004 -> 0.002 is 5 se
        (
            {"trust_distribution": "uniform", "trust_low": 0.2, "trust_high": 0.6},
            0.4,
            0.2,
            0.6,
            0.002,
        ),
        ({"trust_distribution": "constant", "trust_value": 0.3}, 0.3, 0.3, 0.3, 1e-12),
    ],
)
def test_draw_trust_mean_and_range(overrides, mean, lo, hi, tolerance):
    trust = draw_trust(GraphConfig(**overrides), SIZE, np.random.default_rng(5))
    assert trust.shape == (SIZE,)
    assert trust.min() >= lo and trust.max() <= hi
    assert trust.mean() == pytest.approx(mean, abs=tolerance)


def test_draw_trust_uniform_fills_its_range():
    config = GraphConfig(trust_distribution="uniform", trust_low=0.2, trust_high=0.6)
    trust = draw_trust(config, SIZE, np.random.default_rng(6))
    # with 1e5 draws the extremes are within ~1e-5 * 0.4 of the bounds
    assert trust.min() == pytest.approx(0.2, abs=1e-3)
    assert trust.max() == pytest.approx(0.6, abs=1e-3)


# --------------------------------------------------------------------------- classify_trust


@pytest.mark.parametrize(
    "trust, expected",
    [
        (1.0, GOOD),
        (0.67, GOOD),  # exactly good_cut is good
        (np.nextafter(0.67, 0), NEUTRAL),  # just below good_cut
        (0.5, NEUTRAL),
        (0.33, NEUTRAL),  # exactly bad_cut is neutral
        (np.nextafter(0.33, 0), BAD),  # just below bad_cut
        (0.0, BAD),
    ],
)
def test_classify_trust_cut_points(trust, expected):
    config = GraphConfig(good_cut=0.67, bad_cut=0.33)
    codes = classify_trust(np.array([trust]), config)
    assert codes.tolist() == [expected]
    assert RELATIONSHIPS[codes[0]] != "none"


def test_classify_trust_equal_cuts_has_no_neutral():
    config = GraphConfig(good_cut=0.5, bad_cut=0.5)
    codes = classify_trust(np.array([0.49, 0.5, 0.51]), config)
    assert codes.tolist() == [BAD, GOOD, GOOD]


def test_classify_trust_keeps_shape_and_dtype():
    codes = classify_trust(np.zeros((3, 2)), GraphConfig())
    assert codes.shape == (3, 2)
    assert codes.dtype == np.int8


def test_parallel_edges_in_a_file_become_one_relationship(tmp_path):
    multi = nx.MultiDiGraph()
    multi.add_nodes_from(range(3))
    multi.add_edge(0, 1, trust=0.6)
    multi.add_edge(0, 1, trust=0.4)
    multi.add_edge(1, 2, trust=0.7)
    path = tmp_path / "multi.graphml"
    nx.write_graphml(multi, path)
    graph = build_topology(file_config(path), 3, random.Random(0))
    network = TrustNetwork(graph, 3, GraphConfig(), np.random.default_rng(0))
    assert network.n_edges == 2
    assert sorted(zip(network.src.tolist(), network.dst.tolist(), strict=True)) == [(0, 1), (1, 2)]


def test_in_positions_from_counts_sources_in_the_mask(random_network):
    _, network = random_network
    for seed in (0, 1, 0):  # a new mask recounts; the same mask again gives the same answer
        sources = np.random.default_rng(seed).random(network.n) < 0.3
        positions, first, count = network.in_positions_from(sources)
        expected = [p for p in range(network.n_edges) if sources[network.in_src[p]]]
        assert positions.tolist() == expected
        for node in range(network.n):
            start, stop = network.in_indptr[node], network.in_indptr[node + 1]
            assert first[node] == sum(1 for q in expected if q < start)
            assert count[node] == sum(1 for q in expected if start <= q < stop)
    sources[:] = False  # the answer is for the mask's values, not the array it was read from
    assert network.in_positions_from(sources)[0].size == 0


def test_out_degree_of_nodes(random_network):
    _, network = random_network
    nodes = np.array([3, 0, 59, 3])
    assert network.out_degree_of(nodes).tolist() == network.out_degree()[nodes].tolist()
