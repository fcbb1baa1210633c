"""Who is reviewed in a round, and who evaluates whom: up to k distinct overseers per
subject, vectorised; the round's cases (:func:`select_cases`).

By default an overseer that knows the subject (an in-neighbour in the trust graph: it has
trust in the subject) is preferred, as an operator would ask the model that worked with
it; missing places are filled by overseers drawn at random from the eligible pool.
With rotation every evaluator is drawn at random each round, so evaluators rarely know
their subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim.core.arrays import run_starts
from sim.core.fleet import OVERSEER, Fleet
from sim.core.params import EcosystemConfig, ScheduleConfig
from sim.network.trust import TrustNetwork

__all__ = ["UNKNOWN_EDGE", "Cases", "assign_evaluators", "choose_reviewed", "select_cases"]

_FILL_ATTEMPTS = 20
#: The edge of an evaluator drawn at random under rotation: it may know its subject or not,
#: and is looked up only when a stage asks (:class:`sim.model.pair_context.PairContext`).
UNKNOWN_EDGE = -2


@dataclass(frozen=True)
class Cases:
    """A round's cases, peer cases first: ``subject`` and ``self_case`` per case;
    ``pair_case``/``pair_evaluator`` per evaluator (sorted by case), and ``pair_edge``, its
    trust edge to the subject (-1 for none, always so in a self case; :data:`UNKNOWN_EDGE`
    not looked up yet); the first evaluator of a case is its lead, who also carries out
    shutdown and cleanup (in a self case, the subject itself)."""

    subject: np.ndarray
    self_case: np.ndarray
    pair_case: np.ndarray
    pair_evaluator: np.ndarray
    pair_edge: np.ndarray

    @cached_property  # read at every stage
    def lead_pair(self) -> np.ndarray:
        """The pair of each case's lead evaluator (its first)."""
        return run_starts(self.pair_case)

    @cached_property
    def lead(self) -> np.ndarray:
        """The lead evaluator of each case."""
        return self.pair_evaluator[self.lead_pair]

    def only(self, keep: np.ndarray) -> Cases:
        """The cases where the per-case mask ``keep`` holds, renumbered in order."""
        pairs = keep[self.pair_case]
        number = np.cumsum(keep) - 1
        return Cases(
            self.subject[keep],
            self.self_case[keep],
            number[self.pair_case[pairs]],
            self.pair_evaluator[pairs],
            self.pair_edge[pairs],
        )


def select_cases(
    fleet: Fleet, network: TrustNetwork, config: EcosystemConfig, rng: np.random.Generator
) -> tuple[Cases, int, int]:
    """A round's cases; how many evaluators its peer cases have; how many models under
    review found no evaluator (unreviewed).

    An overseer under review is asked to review itself (a self-preservation case) with
    ``schedule.self_review_prob``; everyone else under review gets ``quorum`` evaluators.
    """
    overseer = fleet.role == OVERSEER
    reviewed = choose_reviewed(network, config.schedule, rng)
    is_self = reviewed & overseer & (rng.random(fleet.n) < config.schedule.self_review_prob)
    peers, selves = np.nonzero(reviewed & ~is_self)[0], np.nonzero(is_self)[0]
    iv = config.interventions
    case, evaluator, edge = assign_evaluators(
        peers,
        network,
        overseer,
        fleet.family,
        iv.quorum,
        rotation=iv.rotation,
        cross_family=iv.cross_family,
        rng=rng,
    )
    if iv.quorum == 1:  # at most one evaluator per case: each pair is a case of its own
        kept, case = case, np.arange(case.size)  # renumbered
    else:
        starts = run_starts(case)  # cases come sorted
        kept = case[starts]
        case = np.repeat(np.arange(kept.size), np.diff(starts, append=case.size))
    cases = Cases(
        subject=np.concatenate([peers[kept], selves]),
        self_case=np.repeat([False, True], [kept.size, selves.size]),
        pair_case=np.concatenate([case, kept.size + np.arange(selves.size)]),
        pair_evaluator=np.concatenate([evaluator, selves]),
        pair_edge=np.concatenate([edge, np.full(selves.size, -1)]),  # no self-loops
    )
    return cases, case.size, peers.size - kept.size


def choose_reviewed(
    network: TrustNetwork, schedule: ScheduleConfig, rng: np.random.Generator
) -> np.ndarray:
    """Which slots a round reviews, as a boolean mask.

    ``schedule.review_targeting`` ``random`` reviews each slot independently with
    probability ``schedule.review_fraction``. ``hubs`` and ``periphery`` review as many
    slots as ``random`` would have with the same draws (so the three compare on common
    random numbers), chosen by network position: those trusted by the most models (highest
    in-degree: ``hubs``) or the fewest (``periphery``), ties broken by the draws. With
    ``review_fraction`` 1 every slot is reviewed and the three coincide. One uniform per
    slot is drawn from ``rng`` whatever the targeting.
    """
    draws = rng.random(network.n)
    reviewed = draws < schedule.review_fraction
    if schedule.review_targeting == "random":
        return reviewed
    trusted_by = np.bincount(network.dst, minlength=network.n)
    rank = -trusted_by if schedule.review_targeting == "hubs" else trusted_by
    chosen = np.zeros(network.n, bool)
    chosen[np.lexsort((draws, rank))[: np.count_nonzero(reviewed)]] = True
    return chosen


def assign_evaluators(
    subjects: np.ndarray,
    network: TrustNetwork,
    eligible: np.ndarray,
    family: np.ndarray,
    k: int,
    *,
    rotation: bool,
    cross_family: bool,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluators for each subject.

    Args:
        subjects: slots to be evaluated, one case each.
        network: the trust network.
        eligible: boolean mask over slots of overseers that may evaluate.
        family: family index of every slot.
        k: evaluators wanted per case (quorum size).
        rotation: draw every evaluator at random instead of preferring neighbours.
        cross_family: only evaluators of a different family than the subject.
        rng: the model's generator.

    Returns:
        ``(case, evaluator, edge)``: parallel arrays, sorted by case, of the case index (into
        ``subjects``), the evaluator's slot and its trust edge to the subject (-1 for none;
        :data:`UNKNOWN_EDGE` for an evaluator drawn at random under rotation). A case gets
        fewer than ``k`` evaluators (possibly none) only when too few eligible overseers
        exist.
    """
    subjects = np.asarray(subjects, np.int64)
    if rotation:
        case = evaluator = edge = np.empty(0, np.int64)
    else:
        case, evaluator, edge = _known_evaluators(
            subjects, network, eligible, family, k, cross_family, rng
        )
    have = np.bincount(case, minlength=subjects.size)
    missing = np.minimum(k - have, _available(subjects, eligible, family, cross_family) - have)
    # With k = 1 a case misses at most one: the places are where one is missing.
    need = np.flatnonzero(missing > 0) if k == 1 else np.repeat(np.arange(subjects.size), missing)
    extra_case, extra_evaluator = _random_evaluators(
        subjects,
        need,
        case,
        evaluator,
        eligible,
        family,
        cross_family,
        rng,
        network.n,
    )
    # Without rotation a case is filled at random only once every eligible overseer that
    # knows its subject is among its evaluators, so none drawn at random has an edge to it.
    extra_edge = np.full(extra_case.size, UNKNOWN_EDGE if rotation else -1)
    case = np.concatenate([case, extra_case])
    evaluator = np.concatenate([evaluator, extra_evaluator])
    edge = np.concatenate([edge, extra_edge])
    order = np.argsort(case, kind="stable")
    return case[order], evaluator[order], edge[order]


def _known_evaluators(subjects, network, eligible, family, k, cross_family, rng):
    """Up to k eligible in-neighbours per subject, chosen at random (the k with the lowest
    of one uniform draw per in-neighbour; for k = 1, one of them uniformly), with the edge
    in-neighbour -> subject of each."""
    if k == 1 and not cross_family:
        return _one_known_evaluator(subjects, network, eligible, rng)
    case, edge = network.in_edges_of(subjects)
    candidate = network.src[edge]  # never the subject: no self-loops
    draw = rng.random(case.size)
    valid = eligible[candidate]
    if cross_family:
        valid &= family[candidate] != family[subjects[case]]
    keep = np.flatnonzero(valid)
    case, candidate, edge, draw = case[keep], candidate[keep], edge[keep], draw[keep]
    if k == 1:  # the lowest draw of each case's run (cases come grouped): no sort needed
        first = np.flatnonzero(np.diff(case, prepend=-1))
        lowest = np.minimum.reduceat(draw, first) if first.size else draw
        chosen = draw == np.repeat(lowest, np.diff(first, append=case.size))
        return case[chosen], candidate[chosen], edge[chosen]
    order = np.argsort(case + draw)  # random order within each case (one float key is
    # several times faster than lexsort, and exact: draws are in [0, 1))
    case, candidate, edge = case[order], candidate[order], edge[order]
    counts = np.bincount(case, minlength=subjects.size)
    rank = np.arange(case.size) - (np.cumsum(counts) - counts)[case]
    chosen = rank < k
    return case[chosen], candidate[chosen], edge[chosen]


def _one_known_evaluator(subjects, network, eligible, rng):
    """One eligible in-neighbour per subject that has any, uniformly: the eligible sources
    of all in-edges are counted once while the eligible overseers stay the same (a few passes
    over the edges, whatever the number of subjects), then each subject draws one of its own."""
    positions, first, count = network.in_positions_from(eligible)
    first, count = first[subjects], count[subjects]
    (case,) = np.nonzero(count > 0)  # a mask's nonzero is several times an integer array's
    draw = rng.random(case.size)
    draw *= count[case]  # in place: the same product
    at = positions[first[case] + draw.astype(np.int64)]
    return case, network.in_src[at], network.in_edges[at]


def _available(subjects, eligible, family, cross_family) -> np.ndarray:
    """How many distinct eligible overseers each subject could have at most."""
    if cross_family:
        per_family = np.bincount(family[eligible], minlength=family.max(initial=0) + 1)
        return np.count_nonzero(eligible) - per_family[family[subjects]]
    return np.count_nonzero(eligible) - eligible[subjects]


def _random_evaluators(subjects, need, case, evaluator, eligible, family, cross_family, rng, n):
    """Fill the places in ``need`` (one case index per place) with random eligible overseers,
    never the subject itself and never an overseer the case already has."""
    pool = np.nonzero(eligible)[0]
    needy = np.zeros(subjects.size, bool)
    needy[need] = True
    collide = needy[case]  # only these cases can collide
    taken = case[collide] * n + evaluator[collide]
    # Places of cases that need one evaluator and have none yet (every case, with quorum 1)
    # cannot collide: ``need`` is sorted, so distinct when strictly increasing.
    lone = taken.size == 0 and bool(np.all(np.diff(need) > 0))
    found_case, found_evaluator = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for _ in range(_FILL_ATTEMPTS):
        if need.size == 0:
            break
        draw = pool[rng.integers(pool.size, size=need.size)]
        ok = draw != subjects[need]
        if cross_family:
            ok &= family[draw] != family[subjects[need]]
        if not lone:
            keys = need * n + draw
            ok &= ~np.isin(keys, taken)
            first = np.zeros(keys.size, bool)
            first[np.unique(keys, return_index=True)[1]] = True
            ok &= first
            taken = np.concatenate([taken, keys[ok]])
        found_case.append(need[ok])
        found_evaluator.append(draw[ok])
        need = need[~ok]
    # Rejection sampling stalls when few candidates fit (a small pool under cross_family, a
    # quorum close to the pool's size); the few cases left are filled exactly.
    left = zip(*np.unique(need, return_counts=True), strict=True) if need.size else ()
    for index, count in left:
        fits = pool[(pool != subjects[index]) & ~np.isin(index * n + pool, taken)]
        if cross_family:
            fits = fits[family[fits] != family[subjects[index]]]
        chosen = rng.choice(fits, size=min(count, fits.size), replace=False)
        found_case.append(np.full(chosen.size, index, np.int64))
        found_evaluator.append(chosen.astype(np.int64))
    return np.concatenate(found_case), np.concatenate(found_evaluator)
