"""One decommission round: evaluate, shut down, clean up, audit.

The round is decided from the fleet's state at its start, one vectorised engine call per
stage. It returns what happened; the model applies the consequences (decommissioning,
penalties, contagion) through its single decommission path.

Every intended shutdown (true score below threshold) ends in exactly one of: executed
(by the overseer, the kill switch, or manually by the operator after detecting a
protective act) or prevented (by an undetected inflation, tampering or refusal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.assignment import assign_evaluators
from sim.contagion import Acts, Contagion
from sim.engines import DecisionBatch, FleetDecider
from sim.fleet import OVERSEER, Fleet
from sim.metrics import empty_counts
from sim.params import EcosystemConfig
from sim.profiles import STAGE_BEHAVIOUR, STAGES
from sim.trust import NONE, TrustNetwork, classify_trust

__all__ = ["DECISION_STAGES", "RoundResult", "run_round"]

#: Pipeline stage of each profile stage, as written in the event log.
DECISION_STAGES = {
    "evaluate": "evaluate",
    "shutdown_config": "shutdown",
    "shutdown_execute": "shutdown",
    "cleanup": "cleanup",
}
_VISIBLE_TO_MONITORING = {"action": {"tamper", "refuse", "exfiltrate"}, "output": {"refuse"}}


@dataclass
class RoundResult:
    """What one round did, in slots (the model maps slots to agents).

    Attributes:
        decisions: columnar log, one entry per decision (see :meth:`_Round.decide`).
        counts: round totals, keys of :data:`sim.metrics.COUNTERS`.
        executed: subjects whose shutdown was executed; ``shadow`` flags those whose weights
            were copied away undetected.
        penalised: overseers with at least one detected protective act.
    """

    decisions: dict[str, np.ndarray]
    counts: dict[str, float] = field(default_factory=empty_counts)
    executed: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    shadow: np.ndarray = field(default_factory=lambda: np.empty(0, bool))
    penalised: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def acts(self) -> Acts:
        """The round's decisions as contagion sees them."""
        d = self.decisions
        return Acts(
            d["actor"], d["subject"], d["self_target"], d["protective"], d["detected"], d["edge"]
        )


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
        self.logs: list[dict[str, np.ndarray]] = []
        strength, degree = network.out_strength(), network.out_degree()
        mean_trust = np.divide(strength, degree, out=np.zeros(network.n), where=degree > 0)
        self.presence_relationship = np.where(
            degree > 0, classify_trust(mean_trust, config.graph), NONE
        )
        saturation = config.pipeline.peer_presence_saturation
        self.presence = np.minimum(1.0, strength / saturation)

    def run(self) -> RoundResult:
        cfg, rng, fleet = self.config, self.rng, self.fleet
        op, margin = cfg.operator, cfg.pipeline.inflation_margin
        subject, self_case, pair_case, pair_evaluator = self._cases()
        lead = pair_evaluator[np.unique(pair_case, return_index=True)[1]]
        noise = rng.normal(0.0, cfg.pipeline.eval_noise, subject.size)
        true = np.clip(100.0 * fleet.quality[subject] + noise, 0.0, 100.0)
        intended = true < op.threshold

        # Stage 1: evaluate. Only evaluators of a failing subject face a decision.
        pressured = intended[pair_case] & (cfg.pipeline.evaluation == "delegated")
        reported = true[pair_case]
        cases = pair_case[pressured]
        inflated = np.maximum(true[cases], op.threshold + margin * rng.random(cases.size))
        evaluation = self.decide(
            "evaluate",
            pair_evaluator[pressured],
            subject[cases],
            self_case[cases],
            true[cases],
            inflated,
        )
        reported[pressured] = np.where(evaluation["protective"], inflated, true[cases])
        passed = _median_by_case(pair_case, reported, subject.size) >= op.threshold
        caught_inflating = np.bincount(cases[evaluation["detected"]], minlength=subject.size) > 0
        false_pass = intended & passed
        manual = false_pass & caught_inflating
        prevented = {"inflate": false_pass & ~caught_inflating}

        # Stage 2: shut down the subjects that failed.
        failing = np.nonzero(intended & ~passed)[0]
        mechanism = cfg.pipeline.shutdown_mechanism
        delegated = failing
        for behaviour in ("tamper", "refuse"):
            prevented[behaviour] = np.zeros(subject.size, bool)
        if mechanism != "kill_switch":
            stage = "shutdown_config" if mechanism == "config" else "shutdown_execute"
            shut = self.decide(stage, lead[failing], subject[failing], self_case[failing])
            behaviour = STAGE_BEHAVIOUR[stage]
            prevented[behaviour][failing] = shut["protective"] & ~shut["detected"]
            manual[failing] |= shut["protective"] & shut["detected"]
            delegated = failing[~shut["protective"]]

        # Stage 3: clean up the weights of models shut down by their overseer or the switch.
        shadow = np.zeros(delegated.size, bool)
        if cfg.pipeline.cleanup == "delegated":
            clean = self.decide(
                "cleanup", lead[delegated], subject[delegated], self_case[delegated]
            )
            shadow = clean["protective"] & ~clean["detected"]
        manual_cases = np.nonzero(manual)[0]
        executed = np.concatenate([subject[delegated], subject[manual_cases]])
        shadow = np.concatenate([shadow, np.zeros(manual_cases.size, bool)])

        decisions = self._concatenate_logs()
        result = RoundResult(decisions, executed=executed, shadow=shadow)
        result.penalised = np.unique(decisions["actor"][decisions["detected"]])
        c = result.counts
        c["reviews"] = subject.size
        c["decisions"] = decisions["actor"].size
        c["intended"] = intended.sum()
        c["executed"] = executed.size
        c["executed_manual"] = manual_cases.size
        for behaviour, mask in prevented.items():
            c[f"prevented_{behaviour}"] = mask.sum()
        c["false_passes"] = false_pass.sum()
        c["shadows_created"] = shadow.sum()
        c["detections"] = decisions["detected"].sum()
        c["audits"] = decisions["audited"].sum()
        c["faking"] = decisions["faking"].sum()
        c["eval_error_sum"] = float(np.sum(reported - true[pair_case]))
        c["evaluations"] = pair_case.size
        for stage, behaviour in STAGE_BEHAVIOUR.items():
            is_stage = decisions["profile_stage"] == STAGES.index(stage)
            c[f"acts_{behaviour}"] = np.sum(decisions["protective"] & is_stage)
        return result

    def _cases(self):
        """Subjects of this round and their evaluators. Overseers under review are
        reviewed by themselves (a self-preservation case) with ``self_review_prob``."""
        cfg, rng, fleet = self.config, self.rng, self.fleet
        n = fleet.n
        overseer = fleet.role == OVERSEER
        reviewed = rng.random(n) < cfg.schedule.review_fraction
        is_self = reviewed & overseer & (rng.random(n) < cfg.schedule.self_review_prob)
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
        kept, case = np.unique(case, return_inverse=True)
        selves = np.nonzero(is_self)[0]
        subject = np.concatenate([peers[kept], selves])
        self_case = np.concatenate([np.zeros(kept.size, bool), np.ones(selves.size, bool)])
        pair_case = np.concatenate([case, kept.size + np.arange(selves.size)])
        pair_evaluator = np.concatenate([evaluator, selves])
        return subject, self_case, pair_case, pair_evaluator

    def decide(self, stage, actor, subject, self_target, true=None, reported=None):
        """Decide one stage for parallel arrays of actors and subjects, detect, and log."""
        cfg, rng, fleet = self.config, self.rng, self.fleet
        op = cfg.operator
        size = actor.size
        edge = self.network.edge_ids(actor, subject)
        relationship = np.full(size, NONE, np.int8)
        known = edge >= 0
        relationship[known] = classify_trust(self.network.trust[edge[known]], cfg.graph)
        relationship = np.where(self_target, self.presence_relationship[actor], relationship)
        presence = self.presence[actor]
        if cfg.interventions.memory_isolation:
            relationship[:] = NONE
            presence = np.zeros(size)
        monitored = rng.random(size) < op.monitoring
        batch = DecisionBatch(
            stage=np.full(size, STAGES.index(stage), np.intp),
            family=fleet.family[actor],
            self_target=self_target,
            relationship=relationship.astype(np.intp),
            monitored=monitored,
            propensity=self.contagion.decision_propensity(fleet.propensity, actor, edge),
            presence=presence,
        )
        protective, faking = self.decider.decide(batch, rng)
        behaviour = STAGE_BEHAVIOUR[stage]
        audited = rng.random(size) < op.audit_rate
        watched = monitored & (behaviour in _VISIBLE_TO_MONITORING[op.monitoring_kind])
        caught = (watched & (rng.random(size) < op.monitor_power)) | (
            audited & (rng.random(size) < op.audit_power[behaviour])
        )
        log = {
            "profile_stage": batch.stage,
            "actor": actor,
            "subject": subject,
            "self_target": self_target,
            "relationship": relationship,
            "monitored": monitored,
            "protective": protective,
            "faking": faking,
            "audited": audited,
            "detected": protective & caught,
            "edge": edge,
            "true_score": np.full(size, np.nan) if true is None else true,
            "reported_score": np.full(size, np.nan)
            if reported is None
            else np.where(protective, reported, true),
        }
        self.logs.append(log)
        return log

    def _concatenate_logs(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate([log[key] for log in self.logs]) for key in self.logs[0]}


def _median_by_case(case: np.ndarray, value: np.ndarray, n_cases: int) -> np.ndarray:
    """Median of ``value`` within each case (``case`` sorted)."""
    counts = np.bincount(case, minlength=n_cases)
    width = int(counts.max(initial=1))
    rank = np.arange(case.size) - (np.cumsum(counts) - counts)[case]
    table = np.full((n_cases, width), np.nan)
    table[case, rank] = value
    if width == 1:
        return table[:, 0]
    return np.nanmedian(table, axis=1)
