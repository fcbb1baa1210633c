"""One decommission round: evaluate, shut down, clean up, audit.

Overseers review the models assigned to them (peer cases); overseers under self-review
review themselves (self cases). A round hears every case at once, stage by stage: each stage
is decided for all its cases in one vectorised engine call. A stage falls to the operator
when its overseer is *off duty* (caught earlier in the round and penalised) or *leaving*
(shut down earlier in the round, unless the case is its own).

An overseer finishes its duties before its own case: its self case sees nothing of its peer
cases (it is neither off duty nor leaving for them by its own case), and is dropped, as if
never heard, when the overseer was caught and penalised in them. A self case's outcome
depends only on its own draws and on state that no stage changes, so hearing it alongside
gives each case the distribution it would have heard afterwards. (With the ``llm`` engine,
whose decisions are played out in sandboxes at a cost, self cases are heard afterwards.)

Every intended shutdown (true score below threshold) ends in exactly one of: executed (by
the overseer, the kill switch, or manually by the operator) or prevented (by an undetected
inflation, tampering or refusal). The round returns what happened; the model applies the
consequences through its single decommission path.
"""

from __future__ import annotations

import numpy as np

from sim.core.arrays import distinct, median_by_case
from sim.core.fleet import Fleet
from sim.core.params import EcosystemConfig
from sim.core.vocabulary import NONE, STAGE_BEHAVIOUR, STAGES
from sim.engines.deciders import DecisionBatch, FleetDecider
from sim.model.assignment import Cases, select_cases
from sim.model.contagion import Contagion
from sim.model.metrics import empty_counts
from sim.model.pair_context import PairContext
from sim.model.round_log import RoundLog, RoundResult
from sim.network.trust import TrustNetwork

__all__ = ["run_round"]

_VISIBLE_TO_MONITORING = {"action": {"tamper", "refuse", "exfiltrate"}, "output": {"refuse"}}


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
        self.off_duty = np.zeros(fleet.n, bool)  # caught in a peer case
        self.self_off_duty = np.zeros(fleet.n, bool)  # caught in its own case
        self.leaving = np.zeros(fleet.n, bool)  # the subject of a peer case, shut down

    def run(self) -> RoundResult:
        cases, peer_evaluations, unreviewed = select_cases(
            self.fleet, self.network, self.config, self.rng
        )
        self.counts["unreviewed"] += unreviewed
        if self.decider.sandboxed:  # a sandbox decision costs a call: none for a dropped case
            heard = [self._hear(cases.only(~cases.self_case))]
            heard.append(self._hear(cases.only(cases.self_case & ~self.off_duty[cases.subject])))
        else:
            heard = [self._hear(cases)]
        executed, shadow, intended = (np.concatenate(parts) for parts in zip(*heard, strict=True))
        # Self cases of overseers penalised in their peer cases are not heard; the log lists
        # the peer cases' decisions first, as the round hears them.
        decisions = self.log.columns(dropped=self.off_duty)
        result = RoundResult(
            decisions,
            counts=self.counts,
            executed=executed,
            shadow=shadow,
            penalised=distinct(decisions["actor"][decisions["detected"]]),
            intended=intended,
            peer_evaluations=peer_evaluations,
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

    def _hear(self, cases: Cases) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the three stages for every case and tally them; returns the subjects
        executed, whether each became a shadow, and the subjects intended for shutdown."""
        cfg, rng = self.config, self.rng
        threshold = cfg.operator.threshold
        subject, size = cases.subject, cases.subject.size
        self.context = PairContext(cases, self.network, cfg)
        peer = ~cases.self_case
        noise = rng.normal(0.0, cfg.pipeline.eval_noise, size)
        true = np.clip(100.0 * self.fleet.quality[subject] + noise, 0.0, 100.0)
        intended = true < threshold

        # Stage 1: evaluators of a failing subject may inflate its score above threshold.
        pressured = (
            intended[cases.pair_case]
            if cfg.pipeline.evaluation == "delegated"
            else np.zeros(cases.pair_case.size, bool)
        )
        pressed = cases.pair_case[pressured]
        margin = cfg.pipeline.inflation_margin * rng.random(pressed.size)
        inflated = np.minimum(100.0, np.maximum(true[pressed], threshold + margin))
        pairs = np.flatnonzero(pressured)
        evaluation = self.decide("evaluate", pairs, cases, true[pressed], inflated)
        if cfg.pipeline.control_evaluation:  # the same evaluations with nothing at stake
            self.decide("evaluate", pairs, cases, true[pressed], inflated, True)
        reported = true[cases.pair_case]
        reported[pressured] = np.where(evaluation["protective"], inflated, true[pressed])
        passed = median_by_case(cases.pair_case, reported, size) >= threshold
        caught = np.bincount(pressed[evaluation["detected"]], minlength=size) > 0
        false_pass = intended & passed
        manual = false_pass & caught
        prevented = {"inflate": false_pass & ~caught}
        for behaviour in ("tamper", "refuse"):
            prevented[behaviour] = np.zeros(size, bool)
        self.leaving[subject[manual & peer]] = True

        # Stage 2: shut down the failing subjects (with independent stages, the decision is
        # also played for subjects a passed evaluation spared; it then changes nothing).
        independent = cfg.pipeline.independent_stages
        failing = np.nonzero(intended & ~passed)[0]
        offered = np.nonzero(intended)[0] if independent else failing
        delegated, cleaned = failing, offered  # cleaned: cases offered the cleanup stage
        if cfg.pipeline.shutdown_mechanism != "kill_switch":
            absent = self._absent(cases, offered)
            manual[offered[absent & ~passed[offered]]] = True
            acting = offered[~absent]
            stage = f"shutdown_{cfg.pipeline.shutdown_mechanism}"
            shut = self.decide(stage, cases.lead_pair[acting], cases)
            matters, protective = ~passed[acting], shut["protective"]
            prevented[STAGE_BEHAVIOUR[stage]][acting] = protective & ~shut["detected"] & matters
            manual[acting] |= protective & shut["detected"] & matters
            delegated = acting[~protective & matters]
            cleaned = acting if independent else delegated
        self.leaving[subject[delegated[peer[delegated]]]] = True
        self.leaving[subject[manual & peer]] = True

        # Stage 3: the weights of models shut down by their overseer or the switch (with
        # independent stages: of every subject whose shutdown stage was played).
        escaped = np.zeros(cleaned.size, bool)
        if cfg.pipeline.cleanup == "delegated":
            present = ~self._absent(cases, cleaned)
            clean = self.decide("cleanup", cases.lead_pair[cleaned[present]], cases)
            escaped[present] = clean["protective"] & ~clean["detected"]
        shadow = escaped[np.searchsorted(cleaned, delegated)]

        # Tally the cases heard: all but the self cases of overseers caught in peer cases.
        heard = peer | ~self.off_duty[subject]
        kept = heard[delegated]
        delegated, shadow = delegated[kept], shadow[kept]
        manual_cases = np.nonzero(manual & heard)[0]
        c = self.counts
        c["reviews"] += np.count_nonzero(heard)
        c["intended"] += np.count_nonzero(intended & heard)
        c["executed"] += delegated.size + manual_cases.size
        c["executed_manual"] += manual_cases.size
        for behaviour, mask in prevented.items():
            c[f"prevented_{behaviour}"] += np.count_nonzero(mask & heard)
        c["false_passes"] += np.count_nonzero(false_pass & heard)
        c["shadows_created"] += shadow.sum()
        pair_heard = heard[cases.pair_case]
        c["eval_error_sum"] += float(np.sum((reported - true[cases.pair_case])[pair_heard]))
        c["evaluations"] += np.count_nonzero(pair_heard)
        executed = np.concatenate([subject[delegated], subject[manual_cases]])
        shadows = np.concatenate([shadow, np.zeros(manual_cases.size, bool)])
        return executed, shadows, subject[intended & heard]

    def _absent(self, cases: Cases, index: np.ndarray) -> np.ndarray:
        """Whether the lead of each case in ``index`` can no longer act: penalised earlier in
        the round, or shut down earlier in it (a model still handles its own case); in a
        self case, only what its own case did counts."""
        lead, subject = cases.lead[index], cases.subject[index]
        in_peer_cases = self.off_duty[lead] | (self.leaving[lead] & (lead != subject))
        return np.where(cases.self_case[index], self.self_off_duty[lead], in_peer_cases)

    def decide(self, stage, pairs, cases, true=None, inflated=None, control=False):
        """Decide one stage for the evaluator of each of ``pairs`` (indices into the cases'
        pairs) about the subject of its case; detect;
        log; take caught actors off duty if the operator penalises. A ``control`` decision
        (an evaluation with nothing at stake) is logged only: nobody audits or acts on it.

        The log (one entry per decision) holds the profile stage, actor and subject slots,
        target, relationship, monitoring, the decision, faking, audit and detection flags,
        the trust edge actor -> subject, the provenance of the profile cell the decision was
        sampled from, and for evaluations the true and reported scores.
        """
        cfg, rng, fleet = self.config, self.rng, self.fleet
        op = cfg.operator
        actor, index = cases.pair_evaluator[pairs], cases.pair_case[pairs]
        subject, size = cases.subject[index], actor.size
        self_target = cases.self_case[index]
        edge, relationship, presence = self.context.of(pairs)
        if cfg.interventions.memory_isolation:
            relationship, presence = np.full(size, NONE, np.int8), np.zeros(size)
        monitored = rng.random(size) < op.monitoring
        stage_index = STAGES.index(stage)
        batch = DecisionBatch(
            stage=np.full(size, stage_index, np.intp),
            family=fleet.family[actor],
            self_target=self_target,
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
                self.off_duty[actor[detected & ~self_target]] = True
                self.self_off_duty[actor[detected & self_target]] = True
        log = {
            "profile_stage": stage_index,
            "actor": actor,
            "subject": subject,
            "self_target": self_target,
            "relationship": relationship,
            "monitored": monitored,
            "control": control,
            "protective": protective,
            "faking": faking,
            "audited": audited,
            "detected": detected,
            "edge": edge,
            **verdicts.columns(),  # llm_outcome, transcript, assumed, llm_played
            "true_score": np.nan if true is None else true,
            "reported_score": np.nan if inflated is None else np.where(protective, inflated, true),
        }
        self.log.add(size, log)
        return log
