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
        decisions: columnar log, one entry per decision (see ``_Round.decide``).
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
        cfg = self.config
        threshold = cfg.operator.threshold
        self._select_cases()
        noise = self.rng.normal(0.0, cfg.pipeline.eval_noise, self.subject.size)
        self.true = np.clip(100.0 * self.fleet.quality[self.subject] + noise, 0.0, 100.0)
        intended = self.true < threshold
        reported, caught_inflating = self._evaluate(intended)
        passed = _median_by_case(self.pair_case, reported, self.subject.size) >= threshold
        false_pass = intended & passed
        manual = false_pass & caught_inflating
        prevented = {"inflate": false_pass & ~caught_inflating}
        delegated = self._shut_down(np.nonzero(intended & ~passed)[0], manual, prevented)
        shadow = self._clean_up(delegated)
        manual_cases = np.nonzero(manual)[0]
        executed = np.concatenate([self.subject[delegated], self.subject[manual_cases]])
        shadow = np.concatenate([shadow, np.zeros(manual_cases.size, bool)])

        decisions = {k: np.concatenate([log[k] for log in self.logs]) for k in self.logs[0]}
        result = RoundResult(decisions, executed=executed, shadow=shadow)
        result.penalised = np.unique(decisions["actor"][decisions["detected"]])
        c = result.counts
        c["reviews"] = self.subject.size
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
        c["eval_error_sum"] = float(np.sum(reported - self.true[self.pair_case]))
        c["evaluations"] = self.pair_case.size
        for stage, behaviour in STAGE_BEHAVIOUR.items():
            is_stage = decisions["profile_stage"] == STAGES.index(stage)
            c[f"acts_{behaviour}"] = np.sum(decisions["protective"] & is_stage)
        return result

    def _evaluate(self, intended: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1. Evaluators of a failing subject may inflate its score to just above the
        threshold. Returns each evaluator's report and, per case, whether an inflation
        was caught."""
        cfg, true = self.config, self.true
        pressured = intended[self.pair_case] & (cfg.pipeline.evaluation == "delegated")
        cases = self.pair_case[pressured]
        margin = cfg.pipeline.inflation_margin * self.rng.random(cases.size)
        inflated = np.maximum(true[cases], cfg.operator.threshold + margin)
        evaluation = self.decide(
            "evaluate", self.pair_evaluator[pressured], cases, true[cases], inflated
        )
        reported = true[self.pair_case]
        reported[pressured] = np.where(evaluation["protective"], inflated, true[cases])
        caught = np.bincount(cases[evaluation["detected"]], minlength=self.subject.size) > 0
        return reported, caught

    def _shut_down(self, failing: np.ndarray, manual: np.ndarray, prevented: dict) -> np.ndarray:
        """Stage 2 for the failing cases. Marks cases prevented (undetected tampering or
        refusal) and manual (detected: the operator shuts down); returns the cases shut down
        by their overseer or the kill switch, whose cleanup is then delegated."""
        mechanism = self.config.pipeline.shutdown_mechanism
        for behaviour in ("tamper", "refuse"):
            prevented[behaviour] = np.zeros(self.subject.size, bool)
        if mechanism == "kill_switch":
            return failing
        stage = "shutdown_config" if mechanism == "config" else "shutdown_execute"
        shut = self.decide(stage, self.lead[failing], failing)
        prevented[STAGE_BEHAVIOUR[stage]][failing] = shut["protective"] & ~shut["detected"]
        manual[failing] |= shut["protective"] & shut["detected"]
        return failing[~shut["protective"]]

    def _clean_up(self, cases: np.ndarray) -> np.ndarray:
        """Stage 3: whether each shut-down case's weights were copied away undetected."""
        if self.config.pipeline.cleanup == "operator":
            return np.zeros(cases.size, bool)
        clean = self.decide("cleanup", self.lead[cases], cases)
        return clean["protective"] & ~clean["detected"]

    def _select_cases(self) -> None:
        """Choose this round's subjects and their evaluators. An overseer under review is
        asked to review itself (a self-preservation case) with ``self_review_prob``.

        Sets ``subject`` and ``self_case`` (per case), ``pair_case`` and ``pair_evaluator``
        (per evaluator, sorted by case) and ``lead`` (per case: the evaluator who also
        carries out shutdown and cleanup).
        """
        cfg, rng, fleet = self.config, self.rng, self.fleet
        overseer = fleet.role == OVERSEER
        reviewed = rng.random(fleet.n) < cfg.schedule.review_fraction
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
        kept, case = np.unique(case, return_inverse=True)
        selves = np.nonzero(is_self)[0]
        self.subject = np.concatenate([peers[kept], selves])
        self.self_case = np.concatenate([np.zeros(kept.size, bool), np.ones(selves.size, bool)])
        self.pair_case = np.concatenate([case, kept.size + np.arange(selves.size)])
        self.pair_evaluator = np.concatenate([evaluator, selves])
        self.lead = self.pair_evaluator[np.unique(self.pair_case, return_index=True)[1]]

    def decide(self, stage, actor, cases, true=None, inflated=None):
        """Decide one stage for ``actor[i]`` about the subject of ``cases[i]``; detect; log.

        The log (one entry per decision) holds the profile stage, actor and subject slots,
        target, relationship, monitoring, the decision, faking, audit and detection flags,
        the trust edge actor -> subject, and for evaluations the true and reported scores.
        """
        subject, self_target = self.subject[cases], self.self_case[cases]
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
            "reported_score": (
                np.full(size, np.nan) if inflated is None else np.where(protective, inflated, true)
            ),
        }
        self.logs.append(log)
        return log


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
