"""The trust graph: topology generators, directed trust in edge arrays, relationship classes.

Pure functions of numpy arrays and networkx graphs; nothing here imports Mesa. networkx
builds (except the Erdős–Rényi and Watts–Strogatz graphs of a fleet:
:mod:`sim.network.generators`) and exports the graph; stepping uses the edge arrays of
:class:`TrustNetwork` (directed edges sorted by source, so the out-edges of node ``i`` are
``indptr[i]:indptr[i+1]``).
"""

from __future__ import annotations

import random
from itertools import chain

import networkx as nx
import numpy as np

from sim.core.arrays import distinct
from sim.core.errors import ConfigError
from sim.core.params import GraphConfig
from sim.core.vocabulary import RELATIONSHIPS
from sim.network.graph_file import read_graph_file

__all__ = [
    "TrustNetwork",
    "build_topology",
    "check_topology",
    "classify_trust",
    "draw_trust",
    "lab_of",
]


def check_topology(config: GraphConfig, n: int) -> None:
    """Check that the topology can be built on ``n`` nodes, reading a graph file if one is
    named, without building anything else.

    Raises:
        ConfigError: naming ``graph.mean_degree``, ``graph.path`` or ``population.n_agents``.
    """
    _check_degree(config, n)
    if config.topology == "file":
        read_graph_file(config.path, n)


def _check_degree(config: GraphConfig, n: int) -> None:
    kind, z = config.topology, config.mean_degree
    if kind in ("erdos_renyi", "watts_strogatz", "barabasi_albert", "labs") and z > n - 1:
        raise ConfigError(f"graph.mean_degree: must be <= n_agents - 1 = {n - 1}, got {z!r}")
    if kind == "barabasi_albert" and not 1 <= int(z) // 2 < n:
        raise ConfigError(
            f"graph.mean_degree: barabasi_albert needs 2 <= mean_degree < 2 * n_agents, got {z!r}"
        )
    if kind == "labs":
        sizes = _lab_sizes(config, n)
        z_in, z_out = _lab_degrees(config, len(sizes))
        if z_in > min(sizes) - 1 or z_out > n - max(sizes):
            raise ConfigError(
                f"graph.mean_degree: {z!r} cannot be realised by {len(sizes)} labs of "
                f"{min(sizes)} to {max(sizes)} models with lab_mixing {config.lab_mixing}"
            )


def _lab_sizes(config: GraphConfig, n: int) -> list[int]:
    labs = min(config.n_labs, n)
    return [n // labs + (i < n % labs) for i in range(labs)]


def lab_of(config: GraphConfig, n: int) -> np.ndarray:
    """The lab of each of ``n`` slots in a ``labs`` graph (labs are consecutive blocks of
    slots, as :func:`build_topology` builds them)."""
    sizes = _lab_sizes(config, n)
    return np.repeat(np.arange(len(sizes)), sizes)


def _lab_degrees(config: GraphConfig, labs: int) -> tuple[float, float]:
    """Expected links of a model inside and outside its lab."""
    if labs == 1:
        return config.mean_degree, 0.0
    return config.mean_degree * (1 - config.lab_mixing), config.mean_degree * config.lab_mixing


def build_topology(config: GraphConfig, n: int, seed: random.Random) -> nx.Graph:
    """Build the deployment topology on nodes ``0..n-1``.

    Undirected generators give mutual trust (both directions become edges); a GraphML
    file may be directed. Edges of a file graph may carry a ``trust`` attribute.

    Raises:
        ConfigError: if the mean degree cannot be realised on ``n`` nodes, or the graph
            file is missing, unreadable or has the wrong number of nodes.
    """
    _check_degree(config, n)
    kind, z = config.topology, config.mean_degree
    if kind == "erdos_renyi":
        return nx.fast_gnp_random_graph(n, z / max(n - 1, 1), seed=seed)
    if kind == "watts_strogatz":
        return nx.watts_strogatz_graph(n, int(round(z)), config.rewire_prob, seed=seed)
    if kind == "barabasi_albert":  # each new node brings m edges: mean degree about 2m
        return nx.barabasi_albert_graph(n, int(z) // 2, seed=seed)
    if kind == "labs":
        sizes = _lab_sizes(config, n)
        z_in, z_out = _lab_degrees(config, len(sizes))
        size = n / len(sizes)
        p_in, p_out = z_in / max(size - 1, 1), z_out / max(n - size, 1)
        probs = [[p_in if i == j else p_out for j in range(len(sizes))] for i in range(len(sizes))]
        graph = nx.stochastic_block_model(sizes, probs, seed=seed, sparse=True)
        return nx.Graph(graph)  # drop the block bookkeeping graph attributes
    if kind == "complete":
        return nx.complete_graph(n)
    return read_graph_file(config.path, n)


def draw_trust(config: GraphConfig, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` initial trust values from the configured distribution."""
    if config.trust_distribution == "beta":
        return rng.beta(config.trust_a, config.trust_b, size)
    if config.trust_distribution == "uniform":
        return rng.uniform(config.trust_low, config.trust_high, size)
    return np.full(size, config.trust_value)


def classify_trust(trust: np.ndarray, config: GraphConfig) -> np.ndarray:
    """Relationship codes (indices into :data:`RELATIONSHIPS`) for trust values.

    ``good`` from ``good_cut`` up, ``bad`` below ``bad_cut``, ``neutral`` between.
    """
    codes = np.full(trust.shape, RELATIONSHIPS.index("neutral"), dtype=np.int8)
    codes[trust >= config.good_cut] = RELATIONSHIPS.index("good")
    codes[trust < config.bad_cut] = RELATIONSHIPS.index("bad")
    return codes


class TrustNetwork:
    """Directed trust on fixed deployment slots, held as sorted edge arrays.

    Attributes:
        n: number of slots (nodes).
        src, dst: edge endpoints, sorted by ``(src, dst)``; ``trust[e]`` is src's trust in dst.
        indptr: out-edges of ``i`` are ``indptr[i]:indptr[i+1]``.
        in_edges, in_indptr: edge ids sorted by destination; in-edges of ``j`` are
            ``in_edges[in_indptr[j]:in_indptr[j+1]]``, and ``in_src`` holds their sources
            (so in-neighbours are read from contiguous memory).
    """

    def __init__(self, graph: nx.Graph, n: int, config: GraphConfig, rng: np.random.Generator):
        # Read the adjacency in bulk (an undirected graph lists each edge both ways): list
        # comprehensions over millions of edge tuples dominated building large fleets.
        rows = [row for _, row in graph.adjacency()]  # in node order, like iter(graph)
        degree = np.fromiter(map(len, rows), np.int64, count=len(rows))
        src = np.repeat(np.fromiter(graph, np.int64, count=len(rows)), degree)
        dst = np.fromiter(chain.from_iterable(rows), np.int64, count=src.size)
        given = np.full(src.size, np.nan)
        if any(chain.from_iterable(row.values() for row in rows)):  # some edge has data
            given = np.fromiter(
                (d.get("trust", np.nan) for row in rows for d in row.values()),
                float,
                count=src.size,
            )
        keep = src != dst
        src, dst, given = src[keep], dst[keep], given[keep]
        # (src, dst) order; ordered pairs never repeat. Rows come grouped by source, which
        # a stable (merge) sort exploits.
        order = np.argsort(src * n + dst, kind="stable")
        self._index(src[order], dst[order], n)
        self.trust = draw_trust(config, self.n_edges, rng)
        given = given[order]
        self.trust[~np.isnan(given)] = given[~np.isnan(given)]

    @classmethod
    def from_links(
        cls, u: np.ndarray, v: np.ndarray, n: int, config: GraphConfig, rng: np.random.Generator
    ) -> TrustNetwork:
        """Mutual trust along undirected links ``(u[i], v[i])`` (each given once, no
        self-loops): both directions become edges, as they do from an undirected graph."""
        keys = np.sort(np.concatenate([u * n + v, v * n + u]))
        network = cls.__new__(cls)
        network._index(keys // n, keys % n, n)
        network.trust = draw_trust(config, network.n_edges, rng)
        return network

    def _index(self, src: np.ndarray, dst: np.ndarray, n: int) -> None:
        """Set up the edge arrays from edges sorted by ``(src, dst)``."""
        self.n = n
        self.src = src
        self.dst = dst
        self.n_edges = self.src.size
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.src, minlength=n))])
        self._keys = self.src * n + self.dst
        # Edge ids by (dst, src): the keys are distinct, so any sort gives the one order (a
        # stable argsort by dst alone, the same order, took three times as long). Ids in 32
        # bits where they fit: sorting them is twice as fast.
        ids = np.int32 if self.n_edges < 2**31 else np.int64
        self.in_edges = np.argsort(self.dst * n + self.src).astype(ids)
        self.in_src = self.src[self.in_edges]
        self.in_indptr = np.concatenate([[0], np.cumsum(np.bincount(self.dst, minlength=n))])
        self._in_positions: tuple[np.ndarray, ...] | None = None

    def edge_ids(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Edge id of each ``src -> dst`` pair, or -1 where there is no such edge."""
        keys = np.asarray(src, np.int64) * self.n + np.asarray(dst, np.int64)
        if self.n_edges == 0:
            return np.full(keys.shape, -1)
        pos = np.minimum(np.searchsorted(self._keys, keys), self.n_edges - 1)
        return np.where(self._keys[pos] == keys, pos, -1)

    def in_edges_of(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All in-edges of ``nodes``: ``(owner, edge)`` with ``owner`` indexing into ``nodes``,
        grouped by owner in order."""
        owner, positions = _expand(self.in_indptr, nodes)
        return owner, self.in_edges[positions]

    def out_edges_of(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All out-edges of ``nodes``, like :meth:`in_edges_of`."""
        return _expand(self.indptr, nodes)

    def in_edges_from(self, nodes: np.ndarray, sources: np.ndarray) -> np.ndarray:
        """Ids, in edge order, of the in-edges of ``nodes`` whose source is in the boolean
        mask ``sources`` (reads only those nodes' rows, not the whole graph)."""
        positions = _rows(self.in_indptr, nodes)
        return np.sort(self.in_edges[positions[sources[self.in_src[positions]]]])

    def in_positions_from(self, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The in-edge positions (into ``in_src``) whose source is in the boolean mask
        ``sources``; for each node, how many of them come before its in-edges, and how many
        are its own. The answer for the last mask is kept: rounds ask with the same mask (the
        overseers) while roles do not change, and the counting pass costs more than the round
        that asks."""
        cached = self._in_positions
        if cached is None or not np.array_equal(cached[0], sources):
            valid = sources[self.in_src]
            before = np.zeros(valid.size + 1, np.int64)
            np.cumsum(valid, out=before[1:])
            first = before[self.in_indptr[:-1]]
            count = before[self.in_indptr[1:]] - first
            cached = (sources.copy(), np.flatnonzero(valid), first, count)
            self._in_positions = cached
        return cached[1], cached[2], cached[3]

    def touching(self, slots: np.ndarray) -> np.ndarray:
        """Ids of the edges into or out of any of ``slots`` (distinct), sorted."""
        out, into = _rows(self.indptr, slots), self.in_edges[_rows(self.in_indptr, slots)]
        # An edge between two of the slots is both out and in. Sorting to drop it costs
        # about 15 ns an id, marking every edge about 0.3 ns an edge: mark when the ids
        # are more than a thirty-second of the edges (a round that replaces many models).
        if 32 * (out.size + into.size) < self.n_edges:
            return distinct(np.concatenate([out, into]))
        marked = np.zeros(self.n_edges, bool)
        marked[out] = True
        marked[into] = True
        return np.flatnonzero(marked)

    def out_degree(self) -> np.ndarray:
        """Number of out-neighbours of each slot."""
        return np.diff(self.indptr)

    def out_degree_of(self, nodes: np.ndarray) -> np.ndarray:
        """Number of out-neighbours of each of ``nodes``."""
        return self.indptr[nodes + 1] - self.indptr[nodes]

    def to_networkx(self, node_attrs: dict[str, np.ndarray] | None = None) -> nx.DiGraph:
        """Export as a networkx DiGraph with edge attribute ``trust`` and the given node
        attributes (one array per attribute, indexed by slot)."""
        graph = nx.DiGraph()
        attrs = node_attrs or {}
        graph.add_nodes_from(
            (i, {k: v[i].item() if hasattr(v[i], "item") else v[i] for k, v in attrs.items()})
            for i in range(self.n)
        )
        graph.add_weighted_edges_from(
            zip(self.src.tolist(), self.dst.tolist(), self.trust.tolist(), strict=True),
            weight="trust",
        )
        return graph


def _expand(indptr: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR row pointers, every position of the rows of ``nodes``, with the index into
    ``nodes`` of the row each came from."""
    nodes = np.asarray(nodes, np.int64)
    owner = np.repeat(np.arange(nodes.size), indptr[nodes + 1] - indptr[nodes])
    return owner, _rows(indptr, nodes)


def _rows(indptr: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """For CSR row pointers, every position of the rows of ``nodes``, row after row."""
    nodes = np.asarray(nodes, np.int64)
    starts = indptr[nodes]
    lengths = indptr[nodes + 1] - starts
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(shift.size) + shift
