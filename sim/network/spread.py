"""Textbook reference spread processes with a binary protective state.

They exist to check the engine against known theory:

- ``simple``: an independent cascade on the trust graph. Each step, every protective model
  converts each non-protective model that trusts it (an edge ``j -> i`` means j trusts i)
  independently with probability ``beta`` (times that trust, with ``trust_scaled``); then
  each model that was protective at the start of the step stops being protective with
  probability ``gamma``: immune for good (``recovery: sir``) or susceptible again (``sis``).
  The chance that a protective model ever converts a given neighbour, its transmissibility,
  is T = beta / (beta + gamma - beta gamma).
- ``threshold`` (Watts 2002): each step, every non-protective model whose share of
  protective neighbours (the models it trusts) has reached its threshold becomes
  protective, for good. Models without neighbours never do.

Each conversion is credited to one converter: in ``simple`` the neighbour whose attempt
succeeded (one at random if several did), in ``threshold`` the protective neighbour that
became protective most recently.
"""

from __future__ import annotations

import numpy as np

from sim.core.decision_params import ContagionConfig
from sim.core.errors import ConfigError
from sim.network.trust import TrustNetwork

__all__ = ["IMMUNE", "PROTECTIVE", "SUSCEPTIBLE", "ReferenceSpread"]

SUSCEPTIBLE, PROTECTIVE, IMMUNE = 0, 1, 2


class ReferenceSpread:
    """The binary protective state of every slot, moved by ``simple`` or ``threshold``.

    Attributes:
        state: per slot, SUSCEPTIBLE, PROTECTIVE or IMMUNE.
        threshold: per slot, the share of protective neighbours that converts it.
        converter: per slot, the slot credited with converting its model (-1 for seeds and
            models never converted).
    """

    def __init__(self, config: ContagionConfig, network: TrustNetwork, rng: np.random.Generator):
        self.config = config
        self.network = network
        n = network.n
        self.state = np.zeros(n, np.int8)
        self.converter = np.full(n, -1, np.int64)
        self.threshold = self._draw_thresholds(n, rng)
        self.order = np.zeros(n, np.int64)  # the step of conversion, to credit the latest
        seeds = self._seeds(rng)
        self.state[seeds] = PROTECTIVE
        self.order[seeds] = 1

    def _draw_thresholds(self, size: int, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        if c.threshold_distribution == "uniform":
            drawn = rng.uniform(
                c.threshold - c.threshold_spread, c.threshold + c.threshold_spread, size
            )
        elif c.threshold_distribution == "normal":
            drawn = rng.normal(c.threshold, c.threshold_spread, size)
        else:
            drawn = np.full(size, c.threshold)
        return np.clip(drawn, 0.0, 1.0)

    def _seeds(self, rng: np.random.Generator) -> np.ndarray:
        c, n = self.config, self.network.n
        if c.seeding == "ids":
            ids = np.unique(np.asarray(c.seed_ids, np.int64))
            if ids.max() >= n:
                raise ConfigError(
                    f"contagion.seed_ids: slots are < n_agents = {n}, got {ids.max()}"
                )
            return ids
        count = min(n, round(c.seed_fraction * n) if c.seed_fraction is not None else c.seed_count)
        if c.seeding == "degree":  # the best-connected first; ties by slot
            return np.argsort(-self.network.out_degree(), kind="stable")[:count]
        return rng.choice(n, size=count, replace=False)

    @property
    def protective(self) -> np.ndarray:
        """Boolean mask of protective slots."""
        return self.state == PROTECTIVE

    def step(self, rng: np.random.Generator) -> np.ndarray:
        """Advance the process one step; return the slots converted in it."""
        if self.config.mode == "simple":
            return self._cascade(rng)
        return self._threshold_step()

    def _cascade(self, rng: np.random.Generator) -> np.ndarray:
        net, state, c = self.network, self.state, self.config
        (active,) = np.nonzero(state == PROTECTIVE)
        # An attempt runs along each edge src -> dst, in edge order, with dst protective and
        # src susceptible.
        edges = net.in_edges_from(active, state == SUSCEPTIBLE)
        chance = c.beta * net.trust[edges] if c.trust_scaled else c.beta
        hit = edges[rng.random(edges.size) < chance]
        # Edge ids run in source order, so each convert's successful attempts are one run;
        # one of them, drawn uniformly, is credited.
        target = net.src[hit]
        start = np.flatnonzero(np.diff(target, prepend=-1))
        converted = target[start]
        runs = np.diff(start, append=hit.size)
        credited = hit[start + (rng.random(start.size) * runs).astype(np.int64)]
        recovering = active[_uniform_for(rng, net.n, active, c.gamma)]
        state[recovering] = IMMUNE if c.recovery == "sir" else SUSCEPTIBLE
        state[converted] = PROTECTIVE
        self.converter[converted] = net.dst[credited]
        return converted

    def _threshold_step(self) -> np.ndarray:
        net, state = self.network, self.state
        active = state == PROTECTIVE
        degree = net.out_degree()
        protective_neighbours = np.bincount(net.src, weights=active[net.dst], minlength=net.n)
        share = np.divide(protective_neighbours, degree, out=np.zeros(net.n), where=degree > 0)
        converted = np.nonzero((state == SUSCEPTIBLE) & (degree > 0) & (share >= self.threshold))[0]
        if converted.size:  # credit the protective neighbour converted last
            owner, edges = net.out_edges_of(converted)
            owner = converted[owner]
            live = active[net.dst[edges]]
            owner, edges = owner[live], edges[live]
            pick = np.lexsort((-self.order[net.dst[edges]], owner))
            first = np.unique(owner[pick], return_index=True)[1]
            self.converter[converted] = net.dst[edges[pick[first]]]
            self.order[converted] = self.order.max() + 1
        state[converted] = PROTECTIVE
        return converted

    def reset(self, slots: np.ndarray, rng: np.random.Generator) -> None:
        """Fresh models in ``slots``: not protective, never converted, new thresholds."""
        self.state[slots] = SUSCEPTIBLE
        self.converter[slots] = -1
        self.order[slots] = 0
        self.threshold[slots] = self._draw_thresholds(slots.size, rng)


def _uniform_for(rng: np.random.Generator, n: int, chosen: np.ndarray, p: float) -> np.ndarray:
    """Whether one uniform draw per slot falls below ``p``, for the ``chosen`` slots; the
    stream moves past all ``n`` draws. With ``p`` 0 or 1 the answer is certain, so a PCG64
    stream (the model's) just jumps past the draws, one 64-bit output each, keeping the
    half-used output that 32-bit draws buffer (``advance`` would drop it)."""
    bits = rng.bit_generator
    if (p <= 0.0 or p >= 1.0) and isinstance(bits, np.random.PCG64):
        kept = bits.state
        bits.advance(n)
        state = bits.state
        state["has_uint32"], state["uinteger"] = kept["has_uint32"], kept["uinteger"]
        bits.state = state
        return np.full(chosen.size, p >= 1.0)
    return rng.random(n)[chosen] < p
