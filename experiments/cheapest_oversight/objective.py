"""The objective of the cheapest-oversight search: a Hydra callback.

Hydra's Optuna sweeper minimises the value each run's task function returns, and the
command line's task function returns the run's summary (a dict), which Optuna cannot use.
This callback runs after each run, in the process that ran it (so with any launcher), and
replaces the returned summary with a number the sweeper can minimise:

    cost = costs.audit_rate * audit_rate + costs.monitoring * monitoring
           + costs.quorum * (quorum - 1)
    value = cost                                        if loss of control <= target
            cost + penalty + penalty * (loss - target)  otherwise

With ``penalty`` larger than any cost in the search space, every run within the target
beats every run over it, and among runs over it the closer wins. With
``returns: pareto`` it returns ``[cost, loss of control]`` instead, for two
``minimize`` directions.

A run the sweep skipped (its folder already verified) returns nothing: the summary is then
read from its folder's ``summary.json``. A run that failed stays failed, and so does its trial.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

__all__ = ["OversightObjective", "oversight_cost"]

log = logging.getLogger(__name__)


def oversight_cost(config: DictConfig, costs: dict[str, float]) -> float:
    """What a run's oversight costs: audits, monitoring and evaluators beyond the first."""
    return (
        costs.get("audit_rate", 0.0) * float(config.operator.audit_rate)
        + costs.get("monitoring", 0.0) * float(config.operator.monitoring)
        + costs.get("quorum", 0.0) * (int(config.interventions.quorum) - 1)
    )


class OversightObjective(Callback):
    """Turn each run's summary into the search's objective (see the module docstring)."""

    def __init__(
        self,
        target: float = 0.2,
        costs: dict[str, float] | None = None,
        penalty: float = 100.0,
        undefined_loss: float = 1.0,
        returns: str = "penalised",
    ) -> None:
        if returns not in ("penalised", "pareto"):
            raise ValueError(f"returns: must be penalised or pareto, got {returns!r}")
        self.target = float(target)
        self.costs = dict(costs or {})
        self.penalty = float(penalty)
        self.undefined_loss = float(undefined_loss)
        self.returns = returns

    def value(self, config: DictConfig, summary: dict) -> float | list[float]:
        """The objective of one run, from its config and summary."""
        cost = oversight_cost(config, self.costs)
        loss = summary.get("loss_of_control")
        # Undefined (no shutdown intended): NaN in a run's summary, null in summary.json.
        loss = self.undefined_loss if loss is None or math.isnan(loss) else float(loss)
        if self.returns == "pareto":
            return [cost, loss]
        excess = loss - self.target
        return cost if excess <= 0 else cost + self.penalty + self.penalty * excess

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status != JobStatus.COMPLETED:
            return
        summary = job_return.return_value
        if summary is None:  # skipped by the sweep (already done), or failed and recorded
            summary = _read_summary(Path(config.hydra.runtime.output_dir))
        if not isinstance(summary, dict):
            return  # the trial fails: Optuna gets no number
        value = self.value(config, summary)
        log.info(
            "objective %s (loss of control %s, target %s)",
            value,
            summary.get("loss_of_control"),
            self.target,
        )
        job_return.return_value = value


def _read_summary(folder: Path) -> dict | None:
    path = folder / "summary.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())
