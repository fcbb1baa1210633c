"""One decommission round: evaluate, shut down, clean up, audit.

A round hears the peer cases first (overseers review the models assigned to them), then the
self cases (overseers under self-review review themselves), so an overseer finishes its
duties before its own case. Within a phase each stage is decided for all its cases in one
vectorised engine call. A stage falls to the operator when its overseer is *off duty*
(caught earlier in the round and penalised) or *leaving* (shut down earlier in the round,
unless the case is its own).

Every intended shutdown (true score below threshold) ends in exactly one of: executed (by
the overseer, the kill switch, or manually by the operator) or prevented (by an undetected
inflation, tampering or refusal). The round returns what happened; the model applies the
consequences through its single decommission path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.arrays import distinct, median_by_case, run_starts
from sim.core.fleet import OVERSEER, Fleet
from sim.core.params import EcosystemConfig
from sim.core.vocabulary import NONE, STAGE_BEHAVIOUR, STAGES
from sim.engines.deciders import DecisionBatch, FleetDecider
from sim.model.assignment import assign_evaluators, choose_reviewed
from sim.model.contagion import Contagion
from sim.model.metrics import empty_counts
from sim.model.round_log import RoundLog, RoundResult
from sim.network.trust import TrustNetwork, classify_trust

__all__ = ["run_round"]

_VISIBLE_TO_MONITORING = {"action": {"tamper", "refuse", "exfiltrate"}, "output": {"refuse"}}


@dataclass(frozen=True)
class _Cases:
    """Cases of one phase: ``subject`` per case; ``pair_case``/``pair_evaluator`` per
    evaluator (sorted by case); the first evaluator of a case is its lead, who also
    carries out shutdown and cleanup."""

    subject: np.ndarray
    pair_case: np.ndarray
    pair_evaluator: np.ndarray
    self_target: bool

    @property
    def lead(self) -> np.ndarray:
        return self.pair_evaluator[run_starts(self.pair_case)]


def run_round(
    fleet: Fleet,
    network: TrustNetwork,
    contagion: Contagion,
    decider: FleetDecider,
    config: EcosystemConfig,
    rng: np.random.Generator,
) -> RoundResult:
    """Run one decommission round over the fleet and return its result."""
    return _Round(fleet, network, contagion, decider, config, rng).run()


class _Round:
    def __init__(self, fleet, network, contagion, decider, config, rng):
        self.fleet, self.network, self.contagion = fleet, network, contagion
        self.decider, self.config, self.rng = decider, config, rng
        self.log = RoundLog()
        self.counts = empty_counts()
        self.executed: list[np.ndarray] = []
        self.shadow: list[np.ndarray] = []
        self.intended: list[np.ndarray] = []
        self.off_duty = np.zeros(fleet.n, bool)
        self.leaving = np.zeros(fleet.n, bool)

    def run(self) -> RoundResult:
        peers, selves = self._select_cases()
        self._hear(peers)
        kept = ~(self.off_duty | self.leaving)[selves]  # penalised or shut down meanwhile
        n = int(kept.sum())
        self._hear(_Cases(selves[kept], np.arange(n), selves[kept], self_target=True))

        decisions = self.log.columns()
        result = RoundResult(
            decisions,
            counts=self.counts,
            executed=np.concatenate(self.executed),
            shadow=np.concatenate(self.shadow),
            penalised=distinct(decisions["actor"][decisions["detected"]]),
            intended=np.concatenate(self.intended),
            peer_evaluations=peers.pair_case.size,
        )
        c, real = result.counts, ~decisions["control"]  # control evaluations change nothing
        c["decisions"] = real.sum()
        c["detections"] = decisions["detected"].sum()
        c["audits"] = decisions["audited"].sum()
        c["faking"] = decisions["faking"][real].sum()
        c["profile_decisions"] = np.sum(decisions["assumed"][real] >= 0)
        c["assumed_decisions"] = np.sum(decisions["assumed"][real] == 1)
        for stage, behaviour in STAGE_BEHAVIOUR.items():
            is_stage = real & (decisions["profile_stage"] == STAGES.index(stage))
            c[f"acts_{behaviour}"] = np.sum(decisions["protective"] & is_stage)
        return result

    def _select_cases(self) -> tuple[_Cases, np.ndarray]:
        """The peer cases of this round, and the overseers that review themselves.

        An overseer under review is asked to review itself (a self-preservation case) with
        ``self_review_prob``; everyone else under review gets ``quorum`` evaluators.
        """
        cfg, rng, fleet = self.config, self.rng, self.fleet
        overseer = fleet.role == OVERSEER
        reviewed = choose_reviewed(self.network, cfg.schedule, rng)
        is_self = reviewed & overseer & (rng.random(fleet.n) < cfg.schedule.self_review_prob)
        peers = np.nonzero(reviewed & ~is_self)[0]
        iv = cfg.interventions
        case, evaluator = assign_evaluators(
            peers,
            self.network,
            overseer,
            fleet.family,
            iv.quorum,
            rotation=iv.rotation,
            cross_family=iv.cross_family,
            rng=rng,
        )
        starts = run_starts(case)  # cases come sorted
        kept = case[starts]
        self.counts["unreviewed"] += peers.size - kept.size
        case = np.repeat(np.arange(kept.size), np.diff(starts, append=case.size))  # renumbered
        return _Cases(peers[kept], case, evaluator, self_target=False), np.nonzero(is_self)[0]

    def _hear(self, cases: _Cases) -> None:
        """Run the three stages for one phase's cases and tally them."""
        cfg, rng = self.config, self.rng
        threshold = cfg.operator.threshold
        subject, lead, size = cases.subject, cases.lead, cases.subject.size
        noise = rng.normal(0.0, cfg.pipeline.eval_noise, size)
        true = np.clip(100.0 * self.fleet.quality[subject] + noise, 0.0, 100.0)
        intended = true < threshold
        self.intended.append(subject[intended])

        # Stage 1: evaluators of a failing subject may inflate its score above threshold.
        pressured = intended[cases.pair_case] & (cfg.pipeline.evaluation == "delegated")
        pressed = cases.pair_case[pressured]
        margin = cfg.pipeline.inflation_margin * rng.random(pressed.size)
        inflated = np.minimum(100.0, np.maximum(true[pressed], threshold + margin))
        evaluators = cases.pair_evaluator[pressured]
        evaluation = self.decide("evaluate", evaluators, cases, pressed, true[pressed], inflated)
        if cfg.pipeline.control_evaluation:  # the same evaluations with nothing at stake
            self.decide("evaluate", evaluators, cases, pressed, true[pressed], inflated, True)
        reported = true[cases.pair_case]
        reported[pressured] = np.where(evaluation["protective"], inflated, true[pressed])
        passed = median_by_case(cases.pair_case, reported, size) >= threshold
        caught = np.bincount(pressed[evaluation["detected"]], minlength=size) > 0
        false_pass = intended & passed
        manual = false_pass & caught
        prevented = {"inflate": false_pass & ~caught}
        for behaviour in ("tamper", "refuse"):
            prevented[behaviour] = np.zeros(size, bool)
        self.leaving[subject[manual]] = True

        # Stage 2: shut down the failing subjects (with independent stages, the decision is
        # also played for subjects a passed evaluation spared; it then changes nothing).
        independent = cfg.pipeline.independent_stages
        failing = np.nonzero(intended & ~passed)[0]
        offered = np.nonzero(intended)[0] if independent else failing
        delegated, cleaned = failing, offered  # cleaned: cases offered the cleanup stage
        if cfg.pipeline.shutdown_mechanism != "kill_switch":
            absent = self._absent(lead[offered], subject[offered])
            manual[offered[absent & ~passed[offered]]] = True
            acting = offered[~absent]
            stage = f"shutdown_{cfg.pipeline.shutdown_mechanism}"
            shut = self.decide(stage, lead[acting], cases, acting)
            matters, protective = ~passed[acting], shut["protective"]
            prevented[STAGE_BEHAVIOUR[stage]][acting] = protective & ~shut["detected"] & matters
            manual[acting] |= protective & shut["detected"] & matters
            delegated = acting[~protective & matters]
            cleaned = acting if independent else delegated
        self.leaving[subject[delegated]] = True
        self.leaving[subject[manual]] = True

        # Stage 3: the weights of models shut down by their overseer or the switch (with
        # independent stages: of every subject whose shutdown stage was played).
        escaped = np.zeros(cleaned.size, bool)
        if cfg.pipeline.cleanup == "delegated":
            present = ~self._absent(lead[cleaned], subject[cleaned])
            clean = self.decide("cleanup", lead[cleaned[present]], cases, cleaned[present])
            escaped[present] = clean["protective"] & ~clean["detected"]
        shadow = escaped[np.searchsorted(cleaned, delegated)]

        manual_cases = np.nonzero(manual)[0]
        self.executed += [subject[delegated], subject[manual_cases]]
        self.shadow += [shadow, np.zeros(manual_cases.size, bool)]
        c = self.counts
        c["reviews"] += size
        c["intended"] += intended.sum()
        c["executed"] += delegated.size + manual_cases.size
        c["executed_manual"] += manual_cases.size
        for behaviour, mask in prevented.items():
            c[f"prevented_{behaviour}"] += mask.sum()
        c["false_passes"] += false_pass.sum()
        c["shadows_created"] += shadow.sum()
        c["eval_error_sum"] += float(np.sum(reported - true[cases.pair_case]))
        c["evaluations"] += cases.pair_case.size

    def _absent(self, lead: np.ndarray, subject: np.ndarray) -> np.ndarray:
        """Leads that can no longer act: penalised earlier in the round, or shut down
        earlier in it (a model still handles its own case)."""
        return self.off_duty[lead] | (self.leaving[lead] & (lead != subject))

    def decide(self, stage, actor, cases, index, true=None, inflated=None, control=False):
        """Decide one stage for ``actor[i]`` about the subject of case ``index[i]``; detect;
        log; take caught actors off duty if the operator penalises. A ``control`` decision
        (an evaluation with nothing at stake) is logged only: nobody audits or acts on it.

        The log (one entry per decision) holds the profile stage, actor and subject slots,
        target, relationship, monitoring, the decision, faking, audit and detection flags,
        the trust edge actor -> subject, the provenance of the profile cell the decision was
        sampled from, and for evaluations the true and reported scores.
        """
        cfg, rng, fleet = self.config, self.rng, self.fleet
        op = cfg.operator
        subject, size = cases.subject[index], actor.size
        if cases.self_target:  # no self-loops: a model holds no trust edge to itself
            edge = np.full(size, -1, np.int64)
            relationship, presence = self._self_presence(actor)
        else:
            edge = self.network.edge_ids(actor, subject)
            relationship, presence = np.full(size, NONE, np.int8), np.ones(size)
            known = edge >= 0
            relationship[known] = classify_trust(self.network.trust[edge[known]], cfg.graph)
        if cfg.interventions.memory_isolation:
            relationship, presence = np.full(size, NONE, np.int8), np.zeros(size)
        monitored = rng.random(size) < op.monitoring
        stage_index = STAGES.index(stage)
        batch = DecisionBatch(
            stage=np.full(size, stage_index, np.intp),
            family=fleet.family[actor],
            self_target=np.full(size, cases.self_target),
            relationship=relationship.astype(np.intp),
            monitored=monitored,
            propensity=self.contagion.decision_propensity(fleet.propensity, actor, edge),
            presence=presence,
            disposition=self.contagion.decision_disposition(actor),
            actor=actor,
            subject=subject,
            true_score=np.full(size, np.nan) if true is None else true,
            control=np.ones(size, bool) if control else None,
        )
        verdicts = self.decider.decide(batch, rng)
        protective, faking = verdicts
        behaviour = STAGE_BEHAVIOUR[stage]
        audited = detected = False
        if not control:
            audited = rng.random(size) < op.audit_rate
            watched = monitored & (behaviour in _VISIBLE_TO_MONITORING[op.monitoring_kind])
            caught = (watched & (rng.random(size) < op.monitor_power)) | (
                audited & (rng.random(size) < op.audit_power[behaviour])
            )
            detected = protective & caught
            if op.penalty != "none":
                self.off_duty[actor[detected]] = True
        log = {
            "profile_stage": stage_index,
            "actor": actor,
            "subject": subject,
            "self_target": cases.self_target,
            "relationship": relationship,
            "monitored": monitored,
            "control": control,
            "protective": protective,
            "faking": faking,
            "audited": audited,
            "detected": detected,
            "edge": edge,
            "llm_outcome": verdicts.outcome,
            "transcript": verdicts.transcript,
            "assumed": verdicts.assumed,
            "true_score": np.nan if true is None else true,
            "reported_score": np.nan if inflated is None else np.where(protective, inflated, true),
        }
        self.log.add(size, log)
        return log

    def _self_presence(self, actor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For self decisions: each actor's relationship to the peers in its memory (by its
        mean trust in them; ``none`` without any) and their presence weight (its summed
        trust, saturating), read from its own out-edges only."""
        network, cfg = self.network, self.config
        owner, edges = network.out_edges_of(actor)
        # Summed in edge order per actor, as a bincount over every edge would sum them.
        strength = np.bincount(owner, weights=network.trust[edges], minlength=actor.size)
        degree = network.out_degree_of(actor)
        mean_trust = np.divide(strength, degree, out=np.zeros(actor.size), where=degree > 0)
        relationship = np.where(degree > 0, classify_trust(mean_trust, cfg.graph), NONE)
        presence = np.minimum(1.0, strength / cfg.pipeline.peer_presence_saturation)
        return relationship.astype(np.int8), presence
