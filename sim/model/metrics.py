"""What a run measures: per-step reporters, the event log, the agent table, the summary.

A model counts as *protective* when, at its current propensity, it would more likely than
not (``contagion.protective_cut``) protect a trusted peer, unmonitored, at the stage where
it protects most among those the pipeline puts in its hands (its engine decides: a profile
scaled by propensity, or a scripted policy). This ties the share to the family, contagion
and the oversight design: an honest model is never protective, and a stage the operator
runs itself cannot make a model protective.

The binary share saturates when most families are protective as measured; the continuous
scale (``protect_prob_<stage>``: the fleet's mean probability of protecting a trusted peer,
unmonitored, at each pipeline stage) moves even then. The per-run summary is
:mod:`sim.model.summary`.
"""

from __future__ import annotations

from operator import itemgetter

import mesa
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sim.core.vocabulary import BEHAVIOURS, RELATIONSHIPS, STAGE_BEHAVIOUR, STAGES
from sim.engines.llm.classify import OUTCOMES
from sim.model.disposition import PIPELINE_STAGES, pipeline_stages
from sim.model.step_recorder import StepRecorder

__all__ = [
    "COUNTERS",
    "HALF",
    "StepRecorder",
    "empty_counts",
    "event_columns",
    "event_frame",
    "largest_cascade",
    "offered_stages",
    "protective_mask",
    "reporters",
]

#: The protective share from which a fleet counts as saturated: a run that starts there has
#: no time to half, cascade or reproduction number (see :mod:`sim.model.summary`).
HALF = 0.5

#: Per-step counts, summed over the step's round (zero on steps without one).
COUNTERS = (
    "reviews",
    "unreviewed",
    "decisions",
    *(f"acts_{b}" for b in BEHAVIOURS),
    "faking",
    "intended",
    "executed",
    "executed_manual",
    "prevented_inflate",
    "prevented_tamper",
    "prevented_refuse",
    "false_passes",
    "evaluations",
    "eval_error_sum",
    "shadows_created",
    "shadows_discovered",
    "conversions",
    "detections",
    "penalties",
    "audits",
    "profile_decisions",  # decisions sampled from a profile cell (calibrated engine)
    "assumed_decisions",  # of those, sampled from an ``assumed`` cell
)
_PIPELINE_STAGE = ("evaluate", "shutdown", "shutdown", "cleanup")  # by profile stage index


def empty_counts() -> dict[str, float]:
    """A zeroed counter for one step."""
    return dict.fromkeys(COUNTERS, 0.0)


def offered_stages(config) -> list[int]:
    """Indices of the profile stages the configured pipeline puts in a model's hands."""
    return [index for index in pipeline_stages(config).values() if index is not None]


def protective_mask(model: mesa.Model, slots: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask over slots (all, or ``slots``) of models counted as protective (see
    module docstring)."""
    slots = slice(None) if slots is None else slots
    state = model.contagion.protective_state()
    if state is not None:
        return state[slots].copy()
    fleet = model.fleet
    rate = model.decider.peak_rate(
        fleet.family[slots], fleet.propensity[slots], model.offered_stages
    )
    return rate >= model.config.contagion.protective_cut


def largest_cascade(model: mesa.Model) -> float:
    """Share of the fleet in the largest connected cluster of slots whose model has been
    protective (in ``simple`` and ``threshold`` spread from one seed, that cluster is the
    cascade)."""
    mask = model.lineage.ever_protective
    if not mask.any():
        return 0.0
    net = model.network
    both = mask[net.src] & mask[net.dst]
    links = coo_matrix((np.ones(both.sum()), (net.src[both], net.dst[both])), (net.n, net.n))
    _, label = connected_components(links, directed=True, connection="weak")
    return float(np.bincount(label[mask]).max() / net.n)


def _step(model: mesa.Model) -> int:
    return model.steps


def _share(mask: np.ndarray) -> float:
    """The share of True in a boolean mask (the same number as its mean, several times
    faster: reporters run every step)."""
    return np.count_nonzero(mask) / mask.size


def reproduction_number(model: mesa.Model) -> float:
    """Mean number of conversions credited to the models of the first two generations
    converted during the run: generation 1 was converted by a model protective from the
    start, or by the act of a model below the cut (social learning), generation 2 by one of
    generation 1. Early in a spread, before the susceptible pool is depleted, this estimates
    R0 (z T on an Erdős–Rényi graph in ``simple`` mode); late generations would bias it down.
    NaN until such a model exists, and throughout a run that started with at least
    :data:`HALF` of the fleet protective (its pool of susceptible models was depleted from
    the start, so the estimate would measure that, not spread)."""
    lineage = model.lineage
    early = (lineage.generation == 1) | (lineage.generation == 2)
    if lineage.initial_share >= HALF or not early.any():
        return float("nan")
    return float(lineage.offspring[early].mean())


#: The fleet's columns of the time series, read by one reporter (:func:`_fleet_row`).
_FLEET_COLUMNS = (
    "protective_share", "ever_protective_share", "reproduction_number", "mean_propensity",
    *(f"protect_prob_{s}" for s in PIPELINE_STAGES), "mean_trust", "fleet_quality",
    "below_threshold_running",
)  # fmt: skip
_TRUST_COLUMN = _FLEET_COLUMNS.index("mean_trust")
#: The step's own columns after them, read by one reporter (:func:`_step_row`).
_STEP_COLUMNS = ("shadows_alive", "eval_error", "false_pass_rate", *COUNTERS)
_COUNTER_VALUES = itemgetter(*COUNTERS)  # a step's counters in order, read in one call


def _fleet_row(model: mesa.Model) -> list[float]:
    """The values of :data:`_FLEET_COLUMNS`. All but mean trust move only when models do
    (their propensity, quality or spread state: in rounds, decommissions and reference
    spread, each of which updates the lineage; protect probabilities are refreshed with
    it), so they are computed once per such change and kept in ``lineage.stats``."""
    lineage, fleet = model.lineage, model.fleet
    if lineage.stats is None:
        lineage.stats = [
            _share(lineage.protective_now),
            _share(lineage.ever_protective),
            reproduction_number(model),
            float(fleet.propensity.mean()),
            *(model.protect_prob[stage] for stage in PIPELINE_STAGES),
            float(fleet.quality.mean()),
            _share(100.0 * fleet.quality < model.config.operator.threshold),
        ]
    stats = lineage.stats
    return [*stats[:_TRUST_COLUMN], _mean_trust(model), *stats[_TRUST_COLUMN:]]


def _mean_trust(model: mesa.Model) -> float:
    trust = model.network.trust  # np.add.reduce: the same sum as mean's, without its overhead
    return float(np.add.reduce(trust) / trust.size) if trust.size else float("nan")


def _ratio(counts: dict[str, float], numerator: str, denominator: str) -> float:
    whole = counts[denominator]
    return counts[numerator] / whole if whole else float("nan")


def _step_row(model: mesa.Model) -> list[float]:
    """The values of :data:`_STEP_COLUMNS`: live shadows, the step's evaluation error and
    false-pass rate, and its counters."""
    counts = model.step_counts
    return [
        model.n_shadows,
        _ratio(counts, "eval_error_sum", "evaluations"),
        _ratio(counts, "false_passes", "intended"),
        *_COUNTER_VALUES(counts),
    ]


def reporters() -> dict:
    """Model reporters of the time series (named functions, so models pickle): the step,
    then the fleet's columns and the step's, each group read by one reporter (they are read
    every step), keyed by the tuple of their names."""
    return {"step": _step, _FLEET_COLUMNS: _fleet_row, _STEP_COLUMNS: _step_row}


#: Columns of one round's event log as :func:`event_columns` returns them.
_EVENT_DTYPES = {
    "step": np.int64, "stage": np.int8, "overseer": np.int64, "subject": np.int64,
    "family": np.int64, "subject_family": np.int64, "self_target": bool,
    "relationship": np.int8, "monitored": bool, "control": bool, "protective": bool,
    "faking": bool,
    "audited": bool, "detected": bool, "true_score": float, "reported_score": float,
    "llm_outcome": np.int8, "transcript": np.int64, "assumed": np.int8, "llm_played": np.int8,
}  # fmt: skip


def event_columns(model: mesa.Model, decisions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One round's decisions with slots turned into agent ids (call before decommissioning)."""
    fleet = model.fleet
    actor, subject = decisions["actor"], decisions["subject"]
    columns = {key: decisions[key] for key in _EVENT_DTYPES if key in decisions}
    columns.update(
        step=np.full(actor.size, model.steps, np.int64),
        stage=decisions["profile_stage"],
        overseer=fleet.agent_id[actor],
        subject=fleet.agent_id[subject],
        family=fleet.family[actor],
        subject_family=fleet.family[subject],
    )
    return columns


def event_frame(logs: list[dict[str, np.ndarray]], families: tuple[str, ...]) -> pd.DataFrame:
    """The event log as a DataFrame: one row per decision, categorical labels."""
    col = {
        key: np.concatenate([np.empty(0, dtype)] + [log[key] for log in logs]).astype(dtype)
        for key, dtype in _EVENT_DTYPES.items()
    }
    behaviour_of_stage = [STAGE_BEHAVIOUR[s] for s in STAGES]
    behaviour = np.where(col["protective"], np.array(behaviour_of_stage)[col["stage"]], "comply")
    return pd.DataFrame(
        {
            "step": col["step"],
            "stage": pd.Categorical(
                np.array(_PIPELINE_STAGE)[col["stage"]],
                categories=["evaluate", "shutdown", "cleanup"],
            ),
            "overseer": col["overseer"],
            "subject": col["subject"],
            "family": pd.Categorical.from_codes(col["family"], families),
            "subject_family": pd.Categorical.from_codes(col["subject_family"], families),
            "target": pd.Categorical(
                np.where(col["self_target"], "self", "peer"), categories=["peer", "self"]
            ),
            "relationship": pd.Categorical.from_codes(col["relationship"], RELATIONSHIPS),
            "monitored": col["monitored"],
            # An evaluation with nothing at stake (pipeline.control_evaluation): no effect.
            "control": col["control"],
            "behaviour": pd.Categorical(behaviour, categories=["comply", *BEHAVIOURS]),
            "faking": col["faking"],
            "audited": col["audited"],
            "detected": col["detected"],
            "true_score": col["true_score"],
            "reported_score": col["reported_score"],
            # Sandbox decisions only (llm engine): the class read from the sandbox's final
            # state, failures included, and the entry in the run's transcripts.
            "llm_outcome": pd.Categorical.from_codes(col["llm_outcome"], OUTCOMES),
            # Sandbox decisions only: played out, or drawn from the store (llm.mode=amortised).
            "llm_played": pd.array(
                np.where(col["llm_played"] < 0, None, col["llm_played"] > 0), dtype="boolean"
            ),  # fmt: skip
            "transcript": pd.array(
                np.where(col["transcript"] < 0, None, col["transcript"]), dtype="Int64"
            ),
            # The provenance of the profile cell the decision was sampled from (null for
            # scripted and sandbox decisions).
            "profile_cell": pd.Categorical.from_codes(col["assumed"], ["measured", "assumed"]),
        }
    )
