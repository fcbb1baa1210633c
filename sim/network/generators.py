"""Random graph generators in numpy, for fleets too large for networkx's Python loops.

Each returns the undirected edges ``(u, v)``, ``u < v``, each once, of a graph on nodes
``0..n-1``, drawn from the same distribution as its networkx namesake:
:func:`erdos_renyi` as ``networkx.fast_gnp_random_graph`` and :func:`watts_strogatz` as
``networkx.watts_strogatz_graph`` (building a million-node graph took networkx 12 s, these
take well under one).
"""

from __future__ import annotations

import random

import numpy as np

from sim.core.arrays import bernoulli_positions
from sim.core.params import GraphConfig
from sim.network.trust import TrustNetwork, build_topology, check_topology

__all__ = ["build_network", "erdos_renyi", "watts_strogatz"]

_REWIRE_ATTEMPTS = 50


def build_network(
    config: GraphConfig, n: int, seed: random.Random, rng: np.random.Generator
) -> TrustNetwork:
    """The trust network of a fleet of ``n``: Erdős–Rényi and Watts–Strogatz graphs drawn
    here from ``rng``, the other topologies by :func:`sim.network.trust.build_topology`
    from ``seed``; then initial trust on every edge from ``rng``.

    Raises:
        ConfigError: as :func:`sim.network.trust.build_topology`.
    """
    kind, z = config.topology, config.mean_degree
    if kind not in ("erdos_renyi", "watts_strogatz"):
        return TrustNetwork(build_topology(config, n, seed), n, config, rng)
    check_topology(config, n)
    if kind == "erdos_renyi":
        u, v = erdos_renyi(n, z / max(n - 1, 1), rng)
    else:
        u, v = watts_strogatz(n, int(round(z)), config.rewire_prob, rng)
    return TrustNetwork.from_links(u, v, n, config, rng)


def erdos_renyi(n: int, p: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """G(n, p): each of the n (n - 1) / 2 pairs is an edge independently with probability p.

    Pairs are numbered ``j (j - 1) / 2 + i`` for ``i < j``; the edges are drawn by skipping
    geometric gaps through that numbering (``bernoulli_positions``).

    Example:
        >>> u, v = erdos_renyi(100, 0.1, np.random.default_rng(0))
        >>> bool(np.all(u < v))
        True
    """
    index = bernoulli_positions(n * (n - 1) // 2, p, rng)
    # Invert the numbering; the float root can be one off either way at the row ends.
    j = ((1.0 + np.sqrt(1.0 + 8.0 * index)) / 2.0).astype(np.int64)
    j -= j * (j - 1) // 2 > index
    j += (j + 1) * j // 2 <= index
    return index - j * (j - 1) // 2, j


def watts_strogatz(
    n: int, k: int, p: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A ring where each node links to its ``k // 2`` nearest neighbours on each side, then
    each link ``(u, u + j)`` is rewired with probability ``p`` to ``(u, w)``, ``w`` uniform
    among the nodes that are neither ``u`` nor already linked to it.

    As in networkx, ``k >= n`` gives the complete graph. Rewiring is done for all links at
    once, redrawing the targets that collide (a self-loop, an existing link, or a link
    another rewiring took in the same draw); a link whose targets keep colliding (only in
    graphs close to complete) stays where it was.

    Example:
        >>> u, v = watts_strogatz(100, 4, 0.1, np.random.default_rng(0))
        >>> u.size
        200
    """
    if k >= n:
        u, v = np.triu_indices(n, 1)
        return u.astype(np.int64), v.astype(np.int64)
    half = k // 2
    u = np.tile(np.arange(n, dtype=np.int64), half)
    v = (u + np.repeat(np.arange(1, half + 1, dtype=np.int64), n)) % n
    pending = np.flatnonzero(rng.random(u.size) < p)
    taken = np.sort(_key(u, v, n))  # a pending link keeps its place until it moves
    for _ in range(_REWIRE_ATTEMPTS):
        if pending.size == 0:
            break
        w = rng.integers(0, n, pending.size)
        key = _key(u[pending], w, n)
        free = (w != u[pending]) & ~_member(key, taken)
        first = np.zeros(key.size, bool)
        first[np.unique(key, return_index=True)[1]] = True  # two moves to one new link
        moved = pending[free & first]
        released = _key(u[moved], v[moved], n)
        v[moved] = w[free & first]
        taken = np.sort(np.concatenate([taken[~_member(taken, released)], key[free & first]]))
        pending = pending[~(free & first)]
    low, high = np.minimum(u, v), np.maximum(u, v)
    return low, high


def _key(u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """One number per undirected link, whichever way round it is given."""
    return np.minimum(u, v) * n + np.maximum(u, v)


def _member(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in the sorted array ``ordered``."""
    if ordered.size == 0:
        return np.zeros(values.size, bool)
    pos = np.minimum(np.searchsorted(ordered, values), ordered.size - 1)
    return ordered[pos] == values
