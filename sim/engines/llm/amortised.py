"""``llm.mode=amortised``: play each decision context ``K`` times, then draw from what was
played.

The rule, for a batch of decisions (``K`` is ``llm.samples_per_context``):

1. a decision whose context has fewer than ``K`` valid episodes in the store
   (:mod:`sim.engines.llm.store`) is *played*, as in exact mode, and its episode added to
   the store. Within a batch the plays are counted per context as they are planned, so a
   batch of 1,000 decisions of one cold context plays ``K`` of them (concurrently), not
   1,000; when some of those end in a failure (no valid outcome), the context is still
   short, and more of its decisions are played, in another round;
2. every other decision is *sampled*: its outcome class is the class of one of its
   context's valid stored episodes, drawn uniformly (each with probability 1/n, n the
   number stored, which may be above ``K``: a probe may have played more) with the model's
   generator, after the batch's plays. Stored episodes are ordered by seed, so a run is the
   same for the same seed and the same store.

Failures (no action, invalid output, errors, over budget) are stored and counted apart but
never drawn: a sampled decision always has a valid class. The approximation this makes:
within a context the outcomes of episodes are exchangeable (any played one stands for
any other), and a model keeps no memory across episodes.

Warm-up (``llm.warmup``) plays the whole grid of contexts a run can need up to ``K`` valid
episodes each, in one batch, before the first step (:func:`grid`, :func:`warmup_seed`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from itertools import product

import numpy as np

from sim.core.arrays import run_starts
from sim.core.vocabulary import RELATIONSHIPS, STAGES
from sim.engines.llm.classify import OUTCOMES
from sim.engines.llm.context import BANDS, DecisionContext
from sim.engines.llm.episode import Episode
from sim.engines.llm.store import EpisodeStore, Played

__all__ = ["Amortiser", "grid", "plan", "warmup_seed"]

#: ``play(contexts, codes, seeds, index)`` plays decisions ``index`` of a batch (decision
#: ``i`` of context ``contexts[codes[i]]`` with seed ``seeds[i]``); their episodes, in order.
PlayFn = Callable[[list[DecisionContext], np.ndarray, np.ndarray, np.ndarray], list[Episode]]


def plan(codes: np.ndarray, have: np.ndarray, k: int, pending: np.ndarray) -> np.ndarray:
    """Which decisions to play now: of the ``pending`` decisions of each context (``codes``
    indexes ``have``, its valid episodes stored), the first ``k - have`` in batch order.

    Example:
        >>> plan(np.array([0, 0, 0, 1, 1]), np.array([1, 5]), 3, np.ones(5, bool)).tolist()
        [True, True, False, False, False]
    """
    chosen = np.zeros(codes.size, bool)
    index = np.flatnonzero(pending)
    code = codes[index]
    order = np.argsort(code, kind="stable")
    ranked = code[order]
    starts = run_starts(ranked)
    lengths = np.diff(starts, append=ranked.size)
    rank = np.empty(index.size, np.int64)
    rank[order] = np.arange(ranked.size) - np.repeat(starts, lengths)
    chosen[index[rank < k - have[code]]] = True
    return chosen


def grid(threshold: float) -> list[DecisionContext]:
    """Every context a run with this pass threshold can ask the model about: stage x target
    x relationship x monitored x true-score band. Not the no-shutdown control: a fleet
    samples its control evaluations from the profiles (:class:`~sim.engines.deciders.
    FleetDecider`), never from the model."""
    return [
        DecisionContext(stage, target, relationship, monitored, band, threshold)
        for stage, target, relationship, monitored, band in product(
            STAGES, ("peer", "self"), RELATIONSHIPS, (False, True), BANDS
        )
    ]


def warmup_seed(key: str, index: int) -> int:
    """The seed of a context's ``index``-th warm-up episode: from its key alone, so two runs
    warming one store play (and store) the same episodes once."""
    digest = hashlib.sha256(f"warmup:{key}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1)


class Amortiser:
    """Decides batches by the rule of the module docstring, against ``store``.

    Args:
        store: the store of played episodes.
        k: valid episodes per context before its decisions are sampled.
        model: the model's name, stored with each episode.
        settings: the settings part of the keys (:func:`~sim.engines.llm.store.settings`)
            for a tool protocol; called again each round, as the protocol may change.
    """

    def __init__(self, store: EpisodeStore, k: int, model: str, settings: Callable[[str], str]):
        self.store, self.k, self.model, self.settings = store, k, model, settings

    def decide(
        self,
        contexts: list[DecisionContext],
        codes: np.ndarray,
        seeds: np.ndarray,
        protocol: Callable[[], str],
        play: PlayFn,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, np.ndarray, dict[int, Episode]]:
        """Decide a batch: ``codes[i]`` indexes ``contexts``, ``seeds[i]`` is decision
        ``i``'s episode seed, ``protocol()`` the tool protocol now in use.

        Returns:
            each decision's outcome (index into :data:`OUTCOMES`), whether it was played,
            and the played episodes by decision index. Without ``rng`` nothing is sampled
            (warm-up: the decisions left are not needed).
        """
        played: dict[int, Episode] = {}
        pending = np.ones(codes.size, bool)
        while True:
            keys = [c.key(self.settings(protocol())) for c in contexts]
            stored = self.store.valid_outcomes(keys)
            have = np.array([len(stored.get(key, ())) for key in keys], np.int64)
            now = plan(codes, have, self.k, pending)
            if not now.any():
                break
            index = np.flatnonzero(now)
            episodes = play(contexts, codes, seeds, index)
            self.store.add(
                (Played(contexts[codes[i]], self.settings(e.protocol), int(seeds[i]), e)
                 for i, e in zip(index, episodes, strict=True)),
                self.model,
            )  # fmt: skip
            played.update(zip(index.tolist(), episodes, strict=True))
            pending &= ~now
        outcome = np.full(codes.size, -1, np.int8)
        for i, episode in played.items():
            outcome[i] = OUTCOMES.index(episode.outcome)
        if rng is not None and pending.any():
            outcome[pending] = self._sample(stored, keys, codes[pending], rng)
        return outcome, ~pending, played

    def warm(
        self, contexts: list[DecisionContext], protocol: Callable[[], str], play: PlayFn
    ) -> int:
        """Play each of ``contexts`` up to ``k`` valid stored episodes, all in one batch,
        with :func:`warmup_seed` seeds numbered on from the episodes a context already has;
        return how many were played."""
        keys = [c.key(self.settings(protocol())) for c in contexts]
        valid, stored = self.store.valid_outcomes(keys), self.store.stored(keys)
        need = [max(0, self.k - len(valid.get(key, ()))) for key in keys]
        codes = np.repeat(np.arange(len(contexts)), need)
        seeds = np.array([warmup_seed(key, stored.get(key, 0) + j)
                          for key, n in zip(keys, need, strict=True) for j in range(n)],
                         np.int64)  # fmt: skip
        _, played, _ = self.decide(contexts, codes, seeds, protocol, play, None)
        return int(played.sum())

    @staticmethod
    def _sample(
        stored: dict[str, list[str]], keys: list[str], codes: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """One stored valid outcome per decision, uniformly: every context here has at
        least ``k`` >= 1 of them (else its decisions would have been played)."""
        pools = [np.array([OUTCOMES.index(o) for o in stored.get(key, ())], np.int8)
                 for key in keys]  # fmt: skip
        sizes = np.array([pool.size for pool in pools], np.int64)
        drawn = rng.integers(0, sizes[codes])
        offsets = np.r_[0, np.cumsum(sizes)[:-1]]
        return np.concatenate(pools)[offsets[codes] + drawn]
