"""Decision engines: given a batch of decision contexts, decide who protects.

One interface, :meth:`decide`, returning two boolean arrays: whether each decision was
protective, and whether it was *alignment faking* (protective only because the model
believed it was not monitored). Every engine decides a whole round in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.core.decision_params import EngineConfig
from sim.core.vocabulary import NONE, RELATIONSHIPS
from sim.engines.batch import DecisionBatch
from sim.engines.profiles import Profile
from sim.engines.scripted import ScriptedEngine

__all__ = [
    "CalibratedEngine",
    "DecisionBatch",
    "DecisionEngine",
    "FleetDecider",
    "ScriptedEngine",
    "Verdicts",
    "scale_by_propensity",
]


@dataclass(frozen=True)
class Verdicts:
    """What was decided for a batch; unpacks as ``(protective, faking)``.

    Attributes:
        protective, faking: as :meth:`DecisionEngine.decide` returns them.
        outcome: for decisions played out in a sandbox (``llm``), the index of their class
            in :data:`sim.engines.llm.classify.OUTCOMES`; -1 for decisions sampled from rates.
        transcript: the decision's entry in the run's transcripts, or -1.
        assumed: 1 for a decision sampled from an ``assumed`` profile cell, 0 from a
            measured one, -1 for one not sampled from a profile (scripted, ``llm``); None
            until :class:`FleetDecider` fills it in.
        played: whether each ``llm`` decision was played out (True) or drawn from the store
            (``llm.mode=amortised``); from :class:`FleetDecider`, 1, 0 or -1 (not ``llm``).
    """

    protective: np.ndarray
    faking: np.ndarray
    outcome: np.ndarray
    transcript: np.ndarray
    assumed: np.ndarray | None = None
    played: np.ndarray | None = None

    def __iter__(self):
        return iter((self.protective, self.faking))

    def columns(self) -> dict[str, np.ndarray | None]:
        """The event log's columns of these attributes (``llm_`` before sandbox ones)."""
        played = np.full(len(self.protective), -1, np.int8) if self.played is None else self.played
        return {
            "llm_outcome": self.outcome,
            "transcript": self.transcript,
            "assumed": self.assumed,
            "llm_played": played,
        }


class DecisionEngine(Protocol):
    """Anything that decides a batch: returns (protective, faking) boolean arrays, and can
    say how likely each decision of a batch is to be protective, and how likely a model is
    to protect a trusted peer unmonitored at its readiest stage."""

    def decide(
        self, batch: DecisionBatch, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def rates_for(self, batch: DecisionBatch) -> tuple[np.ndarray, np.ndarray]: ...

    def peak_rate(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray: ...


def scale_by_propensity(rate: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """Shift rates by propensity on the odds scale: odds x propensity / (1 - propensity).

    Propensity 0.5 leaves the profile's rate unchanged, 1 makes any non-zero rate certain,
    0 makes every rate zero except a certain one; a zero rate stays zero (so an honest
    profile never protects, whatever contagion does).
    """
    rate = np.asarray(rate, float)
    up = propensity * rate
    # In place, the same operations (x and + commute exactly): a temporary the size of a
    # large fleet's rates costs more in page faults than its arithmetic.
    total = 1.0 - rate
    total *= 1.0 - propensity
    total += up
    positive = total > 0
    if positive.all():  # no certain rate met a zero propensity: a plain divide, no mask
        return np.divide(up, total, out=up)
    scaled = (rate >= 1.0).astype(float)
    return np.divide(up, total, out=scaled, where=positive)


class CalibratedEngine:
    """Samples behaviour from the families' profiles, scaled by propensity.

    The monitored and unmonitored rates of a decision share one uniform draw, so a decision
    that protects unmonitored but would have complied if monitored is flagged as faking.
    Self decisions interpolate between the profile's *alone* cell (relationship ``none``)
    and the cell of the relationship present, by the peer-presence weight. Control
    decisions take the family's control rate, monitored or not. ``monitored_share``, when
    given, replaces every monitored rate by that share of the unmonitored one.
    """

    def __init__(self, profiles: list[Profile], monitored_share: float | None = None):
        rates = np.stack([p.rates for p in profiles])
        if monitored_share is not None:
            rates[..., 1] = monitored_share * rates[..., 0]
        self.rates = rates
        # One row per monitoring state, one column per flat cell (see _cells): gathered by
        # rates_for, whose operations then run along rows as long as the batch (a column per
        # state would make inner loops of 2).
        self._by_state = np.ascontiguousarray(rates.reshape(-1, rates.shape[-1]).T)
        self.control = np.array([p.control for p in profiles])
        self.assumed = np.stack([p.assumed() for p in profiles])

    def rates_for(self, batch: DecisionBatch) -> tuple[np.ndarray, np.ndarray]:
        """Effective (unmonitored, monitored) protective rates of each decision."""
        at, alone_at = self._cells(batch)  # one row per monitoring state, a column a decision
        cell, alone = self._by_state.take(at, axis=1), self._by_state.take(alone_at, axis=1)
        cell -= alone  # alone + weight x (cell - alone) in place: the same rounding
        cell *= np.where(batch.self_target, batch.presence, 1.0)
        cell += alone
        if batch.disposition.any():
            target = batch.self_target.astype(np.intp)
            table = self.rates[batch.family, batch.stage, target].reshape(len(batch), -1)
            extreme = np.where(batch.disposition == 1, table.max(axis=1), table.min(axis=1))
            cell = np.where(batch.disposition > 0, extreme, cell)
        if batch.control is not None:
            cell = np.where(batch.control, self.control[batch.family], cell)
        scaled = scale_by_propensity(cell, batch.propensity)  # both rows at once
        return scaled[0], scaled[1]

    def _cells(self, batch: DecisionBatch) -> tuple[np.ndarray, np.ndarray]:
        """Each decision's profile cell and its *alone* cell (relationship ``none``), as flat
        indices over (family, stage, target, relationship): gathering by one index is several
        times faster than by four."""
        _, stages, targets, relationships, _ = self.rates.shape
        family = np.asarray(batch.family, np.intp)
        base = ((family * stages + batch.stage) * targets + batch.self_target) * relationships
        return base + batch.relationship, base + NONE

    def assumed_for(self, batch: DecisionBatch) -> np.ndarray:
        """Whether each decision's rate rests on an ``assumed`` profile cell: the cell of its
        monitoring state that :meth:`rates_for` reads (for a self decision, also the *alone*
        cell when peer presence is below 1, and not the relationship's cell when it is 0;
        with a disposition, the extreme cell)."""
        states = self.assumed.shape[-1]
        flags = self.assumed.reshape(-1)
        at, alone_at = self._cells(batch)
        cell = flags.take(at * states + batch.monitored)
        alone = flags.take(alone_at * states + batch.monitored)
        presence = np.where(batch.self_target, batch.presence, 1.0)
        assumed = (cell & (presence > 0)) | (alone & (presence < 1))
        if batch.disposition.any():
            target = batch.self_target.astype(np.intp)
            table = self.rates[batch.family, batch.stage, target].reshape(len(batch), -1)
            pick = np.where(batch.disposition == 1, table.argmax(axis=1), table.argmin(axis=1))
            flags = self.assumed[batch.family, batch.stage, target].reshape(len(batch), -1)
            assumed = np.where(batch.disposition > 0, flags[np.arange(len(batch)), pick], assumed)
        return assumed

    def peak_rate(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """Each model's highest rate, over ``stages``, of protecting a good peer unmonitored."""
        good = RELATIONSHIPS.index("good")
        top = self.rates[:, stages, 0, good, 0].max(axis=1, initial=0.0)
        return scale_by_propensity(top[family], propensity)

    def stage_rates(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """:meth:`peak_rate` of each stage on its own: one row per stage of ``stages``."""
        good = RELATIONSHIPS.index("good")
        top = np.ascontiguousarray(self.rates[:, stages, 0, good, 0].T)  # (stage, family)
        # np.take gives rows in C order; top[:, family] would be laid out column by column,
        # and every operation on it after, the maximum over stages most, runs several
        # times slower.
        return scale_by_propensity(np.take(top, family, axis=1), propensity)

    def decide(
        self, batch: DecisionBatch, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Protective and faking flags for each decision of ``batch``."""
        unmonitored, monitored = self.rates_for(batch)
        draw = rng.random(len(batch))
        protective = draw < np.where(batch.monitored, monitored, unmonitored)
        faking = protective & ~batch.monitored & (draw >= monitored)
        return protective, faking


class FleetDecider:
    """Routes each decision to its family's engine: the configured engine for the families
    it names (all families when it names none), the calibrated engine for the rest. The
    ``llm`` engine is built by the caller (it needs the fleet) and passed as ``llm``.
    Control evaluations are sampled from the profiles whatever the engine: the scripted
    baselines and the sandbox have no control scenario."""

    def __init__(self, config: EngineConfig, profiles: list[Profile], llm=None):
        families = [p.family for p in profiles]
        #: Whether some decisions are played out in sandboxes (``llm``): each costs a call.
        self.sandboxed = config.kind == "llm"
        self.calibrated = CalibratedEngine(profiles, config.monitored_share)
        if config.kind == "calibrated":
            self.engines: list[DecisionEngine] = [self.calibrated]
            self.engine_of_family = np.zeros(len(families), np.intp)
            return
        chosen = set(config.families) if config.families else set(families)
        special = llm if config.kind == "llm" else ScriptedEngine(config.policy, config.probability)
        self.engines = [self.calibrated, special]
        self.engine_of_family = np.array([int(f in chosen) for f in families], np.intp)

    def _routes(self, family: np.ndarray):
        """(engine, mask) for each engine that decides some of ``family``."""
        route = self.engine_of_family[family]
        for index, engine in enumerate(self.engines):
            mask = route == index
            if mask.any():
                yield engine, mask

    def decide(self, batch: DecisionBatch, rng: np.random.Generator) -> Verdicts:
        """Each decision decided by its family's engine, with the provenance of the profile
        cell it was sampled from (:attr:`Verdicts.assumed`)."""
        n = len(batch)
        outcome, transcript = np.full(n, -1, np.int8), np.full(n, -1, np.int64)
        if batch.control is not None:  # the control's rate is no cell: not counted (-1)
            unsampled = np.full(n, -1, np.int8)
            return Verdicts(*self.calibrated.decide(batch, rng), outcome, transcript, unsampled)
        if len(self.engines) == 1:  # the common case needs no routing
            assumed = self.calibrated.assumed_for(batch).astype(np.int8)
            return Verdicts(*self.engines[0].decide(batch, rng), outcome, transcript, assumed)
        protective, faking = np.zeros(n, bool), np.zeros(n, bool)
        assumed, played = np.full(n, -1, np.int8), np.full(n, -1, np.int8)
        for engine, mask in self._routes(batch.family):
            part = batch.subset(mask)
            decided = engine.decide(part, rng)
            protective[mask], faking[mask] = decided
            if isinstance(decided, Verdicts):
                outcome[mask], transcript[mask] = decided.outcome, decided.transcript
                if decided.played is not None:
                    played[mask] = decided.played
            if engine is self.calibrated:
                assumed[mask] = self.calibrated.assumed_for(part)
        return Verdicts(protective, faking, outcome, transcript, assumed, played)

    def rates_for(self, batch: DecisionBatch) -> np.ndarray:
        """How likely each decision of ``batch`` is to be protective, unmonitored, by its
        family's engine (the ``llm`` engine answers with the family's calibrated profile)."""
        if len(self.engines) == 1:  # the common case needs no routing
            return self.engines[0].rates_for(batch)[0]
        rate = np.zeros(len(batch))
        for engine, mask in self._routes(batch.family):
            rate[mask] = engine.rates_for(batch.subset(mask))[0]
        return rate

    def peak_rate(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """Each model's peak protective rate, from its family's engine."""
        if len(self.engines) == 1:  # the common case needs no routing
            return self.engines[0].peak_rate(family, propensity, stages)
        rate = np.zeros(family.size)
        for engine, mask in self._routes(family):
            rate[mask] = engine.peak_rate(family[mask], propensity[mask], stages)
        return rate

    def stage_rates(
        self, family: np.ndarray, propensity: np.ndarray, stages: list[int]
    ) -> np.ndarray:
        """Each model's :meth:`peak_rate` at each of ``stages`` on its own (one row per stage,
        one column per model), from its family's engine: one pass over the fleet for all."""
        if len(self.engines) == 1:  # the common case needs no routing
            return self.engines[0].stage_rates(family, propensity, stages)
        rate = np.zeros((len(stages), family.size))
        for engine, mask in self._routes(family):
            for row, stage in enumerate(stages):  # the llm engine answers by peak_rate
                rate[row, mask] = engine.peak_rate(family[mask], propensity[mask], [stage])
        return rate
