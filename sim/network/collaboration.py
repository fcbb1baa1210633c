"""Collaboration along trust edges, the one process that runs on every edge every step.

Which edges collaborate is drawn by skipping geometric gaps between them
(:func:`sim.core.arrays.bernoulli_positions`): about ``collaboration_rate`` x edges draws a
step instead of one uniform per edge, the same distribution. Trust then learns from the
outcomes in one pass (:data:`LEARN`: compiled by numba when installed, else numpy).
"""

from __future__ import annotations

import numpy as np

from sim.core.arrays import bernoulli_positions
from sim.core.jit import Kernel
from sim.core.params import GraphConfig
from sim.network.trust import TrustNetwork

__all__ = ["LEARN", "collaborate", "learn_from_outcomes"]


def collaborate(
    network: TrustNetwork, quality: np.ndarray, config: GraphConfig, rng: np.random.Generator
) -> None:
    """One step of collaboration: each directed edge works together with probability
    ``collaboration_rate``; the joint task succeeds with the pair's mean quality, and the
    truster's trust moves toward the outcome by ``trust_learning_rate`` (so it stays in [0, 1]).
    """
    if config.collaboration_rate <= 0 or network.n_edges == 0:
        return
    edges = bernoulli_positions(network.n_edges, config.collaboration_rate, rng)
    draws = rng.random(edges.size)
    learn_from_outcomes(network, quality, edges, draws, config.trust_learning_rate)


def learn_from_outcomes(
    network: TrustNetwork,
    quality: np.ndarray,
    edges: np.ndarray,
    draws: np.ndarray,
    rate: float,
) -> None:
    """Trust on each of ``edges`` (distinct) moves by ``rate`` toward the outcome of its
    joint task: success (1) where ``draws`` falls below the pair's mean quality, else 0."""
    LEARN(edges.size, network.src, network.dst, quality, network.trust, edges, draws, rate)


def _learn_loop(src, dst, quality, trust, edges, draws, rate):
    for i in range(edges.size):
        e = edges[i]
        outcome = 1.0 if draws[i] < 0.5 * (quality[src[e]] + quality[dst[e]]) else 0.0
        trust[e] += rate * (outcome - trust[e])


def _learn_numpy(src, dst, quality, trust, edges, draws, rate):
    # The loop's operations in its order, in place where numpy allows (each temporary of a
    # large fleet's events costs page faults): trust + rate * (outcome - trust).
    p_success = quality[src[edges]]
    p_success += quality[dst[edges]]
    p_success *= 0.5
    outcome = (draws < p_success).astype(float)
    old = trust[edges]
    outcome -= old
    outcome *= rate
    old += outcome
    trust[edges] = old


#: Trust learning from collaboration outcomes (see :func:`learn_from_outcomes`).
LEARN = Kernel(_learn_loop, _learn_numpy)
