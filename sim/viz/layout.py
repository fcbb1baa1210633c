"""Where each slot is drawn: one layout per run, computed from the fixed topology, so that
motion across frames means change of state, never of layout."""

from __future__ import annotations

import networkx as nx
import numpy as np

__all__ = ["GROUPED_ABOVE", "communities", "stable_layout"]

#: Fleets larger than this are laid out by community (a spring layout of the whole graph
#: takes about 12 s at 2,000 models; community by community, under a second).
GROUPED_ABOVE = 500


def stable_layout(
    n_slots: int, src, dst, *, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Positions of ``n_slots`` slots, shape ``(n_slots, 2)``, in [-1, 1], from the edges
    ``src -> dst`` (direction ignored). Deterministic for a seed.

    Args:
        groups: a group label per slot (the lab of a ``labs`` graph): each group is laid
            out around its own centre, the centres by a spring layout of the groups'
            graph. Without it a spring layout of the whole graph, or, above
            :data:`GROUPED_ABOVE` slots, the graph's Louvain communities as groups.

    Example:
        >>> stable_layout(3, [0, 1], [1, 2], seed=0).shape
        (3, 2)
    """
    seed = _seed(seed)
    graph = _graph(n_slots, src, dst)
    if groups is None and n_slots > GROUPED_ABOVE:
        groups = _communities(graph, seed)
    if groups is None:
        found = nx.spring_layout(graph, seed=seed)
        where = np.array([found[i] for i in range(n_slots)]).reshape(n_slots, 2)
    else:
        where = _grouped(graph, np.asarray(groups), seed)
    return _fit(where)


def communities(n_slots: int, src, dst, *, seed: int) -> np.ndarray:
    """The Louvain community of each slot of the graph of edges ``src -> dst`` (direction
    ignored), numbered from 0; deterministic for a seed."""
    return _communities(_graph(n_slots, src, dst), _seed(seed))


def _seed(seed: int) -> int:
    """Any whole-number seed as one numpy's legacy generators (behind networkx layouts)
    accept: [0, 2**32)."""
    return int(seed) % 2**32


def _graph(n_slots: int, src, dst) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(range(n_slots))
    graph.add_edges_from(zip(np.asarray(src).tolist(), np.asarray(dst).tolist(), strict=True))
    return graph


def _communities(graph: nx.Graph, seed: int) -> np.ndarray:
    groups = np.empty(graph.number_of_nodes(), np.int64)
    for label, members in enumerate(nx.community.louvain_communities(graph, seed=seed)):
        groups[list(members)] = label
    return groups


def _grouped(graph: nx.Graph, groups: np.ndarray, seed: int) -> np.ndarray:
    """Each group in a disc around its centre (area by its size), centres laid out by a
    spring layout of the graph of groups (weighted by the edges between them)."""
    labels, inverse = np.unique(groups, return_inverse=True)
    between = nx.Graph()
    between.add_nodes_from(range(labels.size))
    for u, v in graph.edges:
        a, b = int(inverse[u]), int(inverse[v])
        if a != b:
            weight = between.get_edge_data(a, b, {"weight": 0})["weight"]
            between.add_edge(a, b, weight=weight + 1)
    found = nx.spring_layout(between, seed=seed, weight="weight")
    centres = np.array([found[i] for i in range(labels.size)]).reshape(labels.size, 2)
    sizes = np.bincount(inverse)
    gap = _spacing(centres)
    where = np.zeros((graph.number_of_nodes(), 2))
    for label in range(labels.size):
        members = np.flatnonzero(inverse == label)
        radius = 0.5 * gap * np.sqrt(sizes[label] / sizes.max())
        if members.size == 1:
            where[members] = centres[label]
            continue
        inner = nx.spring_layout(
            graph.subgraph(members.tolist()), seed=seed, scale=radius, center=centres[label]
        )
        where[members] = [inner[m] for m in members.tolist()]
    return where


def _spacing(points: np.ndarray) -> float:
    """The median distance from one of ``points`` to its nearest other (1 for fewer than
    two): discs of half of it mostly stay apart, without shrinking to the closest pair's."""
    if len(points) < 2:
        return 1.0
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    distance[np.diag_indices(len(points))] = np.inf
    return float(max(np.median(distance.min(axis=1)), 1e-3))


def _fit(where: np.ndarray) -> np.ndarray:
    """Centred and scaled into [-1, 1] (a single point at the origin)."""
    where = where - (where.max(axis=0) + where.min(axis=0)) / 2 if len(where) else where
    extent = np.abs(where).max() if len(where) else 0.0
    return where / extent if extent > 0 else where
