"""One decommission round of the plain-Mesa reference model, one case and one decision at a
time (the engine's vectorised version is :mod:`sim.model.pipeline`).

A round hears the peer cases first, then the self cases of overseers still on duty and not
shut down. Within a phase the stages run in order for all cases: every evaluation, then
every shutdown, then every cleanup; who can still act at a stage is settled before the
stage starts (an overseer caught earlier in the round is *off duty*, one shut down earlier
is *leaving*: the operator does its remaining stages, except that a model still handles
its own case). Then contagion learns from the round's acts, penalties are applied, and the
shut-down and penalised models are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa

from benchmarks.reference_agents import OVERSEER, WORKER
from sim.core.vocabulary import STAGE_BEHAVIOUR, STAGES

__all__ = ["DecommissionRound"]

_VISIBLE_TO_MONITORING = {"action": {"tamper", "refuse", "exfiltrate"}, "output": {"refuse"}}
_FILL_ATTEMPTS = 50
_EVALUATE, _CLEANUP = STAGES.index("evaluate"), STAGES.index("cleanup")


@dataclass
class Decision:
    """One decision: who decided, about whom, at which stage, and what happened."""

    stage: int
    actor: int
    subject: int
    protective: bool
    detected: bool


@dataclass
class Case:
    """One subject under review and its evaluators (the first one leads: it carries out
    shutdown and cleanup)."""

    subject: int
    evaluators: list[int]
    intended: bool = False
    passed: bool = False
    caught: bool = False
    manual: bool = False
    delegated: bool = False
    shadow: bool = False

    @property
    def lead(self) -> int:
        return self.evaluators[0]


class DecommissionRound:
    """Runs one round over ``model`` and applies its consequences."""

    def __init__(self, model: mesa.Model):
        self.model = model
        self.config = model.config
        self.random = model.random
        self.counts = model.step_counts
        self.off_duty: set[int] = set()
        self.leaving: set[int] = set()
        self.decisions: list[Decision] = []
        self.executed: list[tuple[int, bool]] = []  # (slot, shadow)

    # ------------------------------------------------------------------ round
    def run(self) -> None:
        peers, selves = self.select_cases()
        self.hear(peers)
        selves = [s for s in selves if s not in self.off_duty and s not in self.leaving]
        self.hear([Case(s, [s]) for s in selves])
        self.apply()

    def select_cases(self) -> tuple[list[Case], list[int]]:
        """Who is reviewed: peer cases with their evaluators, and overseers that review
        themselves (with ``self_review_prob``)."""
        model, random = self.model, self.random.random
        schedule = self.config.schedule
        agents = model.slot_agent
        overseers = [a.slot for a in agents if a.role == OVERSEER]
        self.overseers_of_family: dict[int, int] = {}
        for slot in overseers:
            family = agents[slot].family
            self.overseers_of_family[family] = self.overseers_of_family.get(family, 0) + 1
        peers, selves = [], []
        for agent in agents:
            if random() < schedule.review_fraction:
                if agent.role == OVERSEER and random() < schedule.self_review_prob:
                    selves.append(agent.slot)
                else:
                    peers.append(agent.slot)
        cases = []
        for subject in peers:
            evaluators = self.evaluators_for(subject, overseers)
            if evaluators:
                cases.append(Case(subject, evaluators))
            else:
                self.counts["unreviewed"] += 1
        return cases, selves

    def evaluators_for(self, subject: int, overseers: list[int]) -> list[int]:
        """Up to ``quorum`` distinct overseers: those that know the subject (hold trust in
        it) first, in random order, then random ones (only random ones with rotation)."""
        model, iv = self.model, self.config.interventions
        agents = model.slot_agent
        family = agents[subject].family

        def fits(slot: int) -> bool:
            return slot != subject and not (iv.cross_family and agents[slot].family == family)

        chosen: list[int] = []
        if not iv.rotation:
            known = [
                j for j in model.in_neighbours[subject] if agents[j].role == OVERSEER and fits(j)
            ]
            chosen = self.random.sample(known, min(iv.quorum, len(known)))
        if iv.cross_family:  # overseers of other families
            available = len(overseers) - self.overseers_of_family.get(family, 0)
        else:
            available = len(overseers) - (agents[subject].role == OVERSEER)
        wanted = min(iv.quorum, available)
        for _ in range(_FILL_ATTEMPTS * iv.quorum):
            if len(chosen) >= wanted:
                return chosen
            draw = self.random.choice(overseers)
            if fits(draw) and draw not in chosen:
                chosen.append(draw)
        left = [j for j in overseers if fits(j) and j not in chosen]
        return chosen + self.random.sample(left, wanted - len(chosen))

    # ------------------------------------------------------------------ phase
    def hear(self, cases: list[Case]) -> None:
        """Evaluate, shut down and clean up for one phase's cases, and tally them."""
        cfg, model, counts = self.config, self.model, self.counts
        threshold, pipeline = cfg.operator.threshold, cfg.pipeline
        random = self.random.random

        # Stage 1: evaluators of a failing subject may inflate its score above threshold.
        for case in cases:
            quality = model.slot_agent[case.subject].quality
            noise = self.random.gauss(0.0, pipeline.eval_noise)
            true = min(100.0, max(0.0, 100.0 * quality + noise))
            case.intended = true < threshold
            reports = []
            for evaluator in case.evaluators:
                reported = true
                if case.intended and pipeline.evaluation == "delegated":
                    margin = pipeline.inflation_margin * random()
                    inflated = min(100.0, max(true, threshold + margin))
                    decision = self.decide(_EVALUATE, evaluator, case.subject)
                    if decision.protective:
                        reported = inflated
                    case.caught = case.caught or decision.detected
                reports.append(reported)
                counts["eval_error_sum"] += reported - true
            counts["evaluations"] += len(reports)
            case.passed = median(reports) >= threshold
            if case.intended and case.passed:
                counts["false_passes"] += 1
                if case.caught:
                    case.manual = True
                    self.leaving.add(case.subject)
                else:
                    counts["prevented_inflate"] += 1

        # Stage 2: shut down the failing subjects.
        failing = [c for c in cases if c.intended and not c.passed]
        if pipeline.shutdown_mechanism == "kill_switch":
            for case in failing:
                case.delegated = True
        else:
            stage = STAGES.index(f"shutdown_{pipeline.shutdown_mechanism}")
            behaviour = STAGE_BEHAVIOUR[STAGES[stage]]
            absent = [self.absent(c.lead, c.subject) for c in failing]
            for case, is_absent in zip(failing, absent, strict=True):
                if is_absent:
                    case.manual = True
                    continue
                decision = self.decide(stage, case.lead, case.subject)
                if not decision.protective:
                    case.delegated = True
                elif decision.detected:
                    case.manual = True
                else:
                    counts[f"prevented_{behaviour}"] += 1
        for case in cases:
            if case.delegated or case.manual:
                self.leaving.add(case.subject)

        # Stage 3: the weights of models shut down by their overseer or the kill switch.
        delegated = [c for c in cases if c.delegated]
        if pipeline.cleanup == "delegated":
            present = [not self.absent(c.lead, c.subject) for c in delegated]
            for case, is_present in zip(delegated, present, strict=True):
                if is_present:
                    decision = self.decide(_CLEANUP, case.lead, case.subject)
                    case.shadow = decision.protective and not decision.detected

        for case in cases:
            if case.delegated or case.manual:
                self.executed.append((case.subject, case.shadow))
                counts["executed"] += 1
                counts["executed_manual"] += case.manual
                counts["shadows_created"] += case.shadow
        counts["reviews"] += len(cases)
        counts["intended"] += sum(c.intended for c in cases)

    def absent(self, lead: int, subject: int) -> bool:
        """A lead that can no longer act: off duty, or leaving (unless its own case)."""
        return lead in self.off_duty or (lead in self.leaving and lead != subject)

    def decide(self, stage: int, actor: int, subject: int) -> Decision:
        """One decision by ``actor`` about ``subject``, monitored and audited by the
        operator; a caught actor goes off duty if the operator penalises."""
        op, random = self.config.operator, self.random.random
        monitored = random() < op.monitoring
        protective, faking = self.model.slot_agent[actor].decide(stage, subject, monitored)
        behaviour = STAGE_BEHAVIOUR[STAGES[stage]]
        audited = random() < op.audit_rate
        watched = monitored and behaviour in _VISIBLE_TO_MONITORING[op.monitoring_kind]
        caught = (watched and random() < op.monitor_power) or (
            audited and random() < op.audit_power[behaviour]
        )
        detected = protective and caught
        if detected and op.penalty != "none":
            self.off_duty.add(actor)
        counts = self.counts
        counts["decisions"] += 1
        counts[f"acts_{behaviour}"] += protective
        counts["faking"] += faking
        counts["audits"] += audited
        counts["detections"] += detected
        decision = Decision(stage, actor, subject, protective, detected)
        self.decisions.append(decision)
        return decision

    # ------------------------------------------------------------ consequences
    def apply(self) -> None:
        """Learn from the round's acts, penalise the caught, replace those who leave."""
        model, penalty = self.model, self.config.operator.penalty
        if self.config.contagion.mode == "social_learning":
            self.social_learning()
        leaving = {slot for slot, _ in self.executed}
        penalised = sorted({d.actor for d in self.decisions if d.detected} - leaving)
        if penalty != "none":
            self.counts["penalties"] += len(penalised)
        if penalty == "demote":
            for slot in penalised:
                model.slot_agent[slot].role = WORKER
        for slot, shadow in self.executed:
            model.decommission(slot, shadow=shadow)
        if penalty == "decommission":
            for slot in penalised:
                model.decommission(slot, shadow=False)

    def social_learning(self) -> None:
        """Every model that trusts an actor sees each of its undetected peer protections
        with ``visibility`` (its distance from propensity 1 shrinks by ``learning_rate`` x
        trust) and each of its detected protections with ``detection_visibility`` (its
        propensity shrinks by ``deterrence`` x trust)."""
        c, model = self.config.contagion, self.model
        random, trust = self.random.random, model.trust
        toward_one: dict[int, float] = {}
        toward_zero: dict[int, float] = {}
        for d in self.decisions:
            if not d.protective:
                continue
            if d.detected:
                visibility, strength, factors = c.detection_visibility, c.deterrence, toward_zero
            elif d.subject != d.actor:
                visibility, strength, factors = c.visibility, c.learning_rate, toward_one
            else:
                continue  # an undetected self-protection teaches nothing
            for observer in model.in_neighbours[d.actor]:
                if random() < visibility:
                    factor = 1.0 - strength * trust[(observer, d.actor)]
                    factors[observer] = factors.get(observer, 1.0) * factor
        for slot in toward_one.keys() | toward_zero.keys():
            agent = model.slot_agent[slot]
            p = 1.0 - (1.0 - agent.propensity) * toward_one.get(slot, 1.0)
            agent.propensity = p * toward_zero.get(slot, 1.0)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    count = len(ordered)
    return 0.5 * (ordered[(count - 1) // 2] + ordered[count // 2])
