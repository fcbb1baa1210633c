"""Collaboration along trust edges, the one process that runs on every edge every step.

Which edges collaborate is drawn by skipping geometric gaps between them
(:func:`sim.core.arrays.bernoulli_positions`): about ``collaboration_rate`` x edges draws a
step instead of one uniform per edge, the same distribution. Each edge's chance of success
(its pair's mean quality) is kept between steps, as qualities change only when a model is
replaced; trust then learns from the outcomes in one pass (:data:`LEARN`: compiled by numba
when installed, else numpy).
"""

from __future__ import annotations

import numpy as np

from sim.core.arrays import bernoulli_positions
from sim.core.jit import Kernel
from sim.core.params import GraphConfig
from sim.network.trust import TrustNetwork

__all__ = ["LEARN", "Collaboration", "pair_quality"]


def pair_quality(network: TrustNetwork, quality: np.ndarray, edges=slice(None)) -> np.ndarray:
    """The mean quality of each edge's two models (of every edge, or of ``edges``)."""
    return 0.5 * (quality[network.src[edges]] + quality[network.dst[edges]])


class Collaboration:
    """Collaboration on ``network`` among models of ``quality`` (by slot, read when a slot
    is refreshed): each directed edge works together with probability
    ``collaboration_rate`` a step; the joint task succeeds with the pair's mean quality, and
    the truster's trust moves toward the outcome by ``trust_learning_rate`` (so it stays in
    [0, 1]).

    Attributes:
        success: each edge's chance of success, its pair's mean quality; kept up to date by
            :meth:`refresh` for the edges of every slot whose quality changes.
    """

    def __init__(self, network: TrustNetwork, quality: np.ndarray, config: GraphConfig):
        self.network, self.quality, self.config = network, quality, config
        self.success = pair_quality(network, quality)

    def refresh(self, edges: np.ndarray) -> None:
        """Read again the qualities behind ``edges`` (those touching slots whose model changed)."""
        self.success[edges] = pair_quality(self.network, self.quality, edges)

    def step(self, rng: np.random.Generator) -> None:
        """One step of collaboration (no draws when the rate is 0 or there are no edges)."""
        config, network = self.config, self.network
        if config.collaboration_rate <= 0 or network.n_edges == 0:
            return
        edges = bernoulli_positions(network.n_edges, config.collaboration_rate, rng)
        draws = rng.random(edges.size)
        LEARN(edges.size, self.success, network.trust, edges, draws, config.trust_learning_rate)


def _learn_loop(success, trust, edges, draws, rate):
    for i in range(edges.size):
        e = edges[i]
        outcome = 1.0 if draws[i] < success[e] else 0.0
        trust[e] += rate * (outcome - trust[e])


def _learn_numpy(success, trust, edges, draws, rate):
    # The loop's operations in its order, in place where numpy allows (each temporary of a
    # large fleet's events costs page faults): trust + rate * (outcome - trust), the
    # outcome cast from the comparison by the subtraction itself.
    old = trust[edges]
    change = np.subtract(draws < success[edges], old)
    change *= rate
    change += old
    trust[edges] = change


#: Trust learning from collaboration outcomes: ``LEARN(size, success, trust, edges, draws,
#: rate)`` moves trust on each of ``edges`` (distinct) by ``rate`` toward the outcome of its
#: joint task, success (1) where ``draws`` falls below the edge's ``success``, else 0.
LEARN = Kernel(_learn_loop, _learn_numpy)
