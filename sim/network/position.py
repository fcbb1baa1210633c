"""Where each slot sits in the deployment graph: degree, betweenness, k-core, community.

Pure functions of a :class:`~sim.network.trust.TrustNetwork`'s edges (its topology, not
its trust weights) and networkx; nothing here imports Mesa. Positions belong to slots: a
replacement takes its predecessor's place in the graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from sim.network.trust import TrustNetwork

__all__ = ["BETWEENNESS_BUDGET", "betweenness_sources", "positions"]

#: Node and edge visits that betweenness may spend: exact (every node a source) while
#: ``n * (n + edges)`` fits, otherwise estimated from this many visits' worth of sampled
#: sources, at least :data:`MIN_SOURCES` (about 2 s for 20,000 models of degree 6).
BETWEENNESS_BUDGET = 2_000_000
MIN_SOURCES = 20


def betweenness_sources(n: int, n_edges: int) -> int | None:
    """How many sampled sources estimate betweenness on a graph this size (None: exact).

    Example:
        >>> betweenness_sources(200, 1200), betweenness_sources(20_000, 120_000)
        (None, 20)
    """
    k = max(MIN_SOURCES, BETWEENNESS_BUDGET // max(n + n_edges, 1))
    return None if k >= n else k


def positions(
    network: TrustNetwork, *, seed: int, labs: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each slot's position, as arrays indexed by slot.

    Args:
        network: the trust network (edges ``src -> dst``).
        seed: seeds the sampled sources of betweenness and Louvain's node order.
        labs: each slot's lab, when the graph is built of labs: it is then the community.

    Returns:
        ``in_degree``, ``out_degree``; ``betweenness`` (directed, unweighted, normalised
        by networkx; estimated from sampled sources on large graphs, see
        :func:`betweenness_sources`); ``k_core`` (core number of the undirected graph);
        ``community`` (the lab, or the Louvain community of the undirected graph with
        networkx's default resolution, numbered from the largest, ties by lowest slot).
    """
    n = network.n
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(network.src.tolist(), network.dst.tolist(), strict=True))
    k = betweenness_sources(n, network.n_edges)
    between = nx.betweenness_centrality(graph, k=k, seed=seed)
    undirected = graph.to_undirected()
    core = nx.core_number(undirected)
    if labs is None:
        found = nx.community.louvain_communities(undirected, seed=seed)
        labs = np.empty(n, np.int64)
        for label, members in enumerate(sorted(found, key=lambda c: (-len(c), min(c)))):
            labs[list(members)] = label
    return {
        "in_degree": np.bincount(network.dst, minlength=n),
        "out_degree": np.bincount(network.src, minlength=n),
        "betweenness": np.array([between[i] for i in range(n)]),
        "k_core": np.array([core[i] for i in range(n)], np.int64),
        "community": np.asarray(labs, np.int64),
    }
