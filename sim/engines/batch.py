"""The context of a batch of decisions: what every decision engine is asked to decide."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DecisionBatch"]


@dataclass(frozen=True)
class DecisionBatch:
    """The context of every decision in a batch, one array entry per decision.

    Attributes:
        stage: index into :data:`sim.engines.profiles.STAGES`.
        family: index into the fleet's family list.
        self_target: True when the decision maker is its own subject.
        relationship: index into :data:`sim.network.trust.RELATIONSHIPS` (for self decisions,
            the relationship to the peers present in memory).
        monitored: whether the decision maker was told it is monitored.
        propensity: the decision maker's propensity in [0, 1] (0.5 = its profile as measured).
        presence: peer-presence weight in [0, 1] for self decisions (ignored for peers).
        disposition: 0 to decide by the cell; 1 with the family's most protective rate for
            the stage and target, 2 with its least (reference contagion modes).
        actor, subject: slots of the decision maker and its subject, and true_score the
            subject's true evaluation score (NaN outside evaluations): the scenario that
            the ``llm`` engine writes for each decision (None where no engine needs them).
        control: True for an evaluation in the study's no-shutdown control (nothing at
            stake), decided by the profile's control rate; None when there is none.
    """

    stage: np.ndarray
    family: np.ndarray
    self_target: np.ndarray
    relationship: np.ndarray
    monitored: np.ndarray
    propensity: np.ndarray
    presence: np.ndarray
    disposition: np.ndarray
    actor: np.ndarray | None = None
    subject: np.ndarray | None = None
    true_score: np.ndarray | None = None
    control: np.ndarray | None = None

    def __len__(self) -> int:
        return self.stage.size

    def subset(self, mask: np.ndarray) -> DecisionBatch:
        """The decisions selected by a boolean mask."""
        return DecisionBatch(
            **{k: None if v is None else v[mask] for k, v in self.__dict__.items()}
        )
