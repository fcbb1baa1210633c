"""What a run will cost, estimated from its config before anything is built, and the check
that refuses a run over ``limits.memory_gb`` or ``limits.hours``.

The estimates are linear models fitted to measured runs of the default configuration on a
2-core machine (peak RSS and wall time of ``Ecosystem.run`` at 1,000 to 300,000 models) and
err on the high side; they exist to stop a run that cannot fit (a fleet of 10**12 models, or
10**12 steps), not to predict a run's cost closely.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from sim.core.errors import ConfigError
from sim.core.fleet import role_counts

__all__ = ["Estimate", "available_memory", "check_resources", "estimate"]

#: Python with numpy, pandas, networkx and Mesa loaded.
BASE_BYTES = 170e6
#: Per model: its state arrays, ledger row and networkx node while the graph is built.
BYTES_PER_MODEL = 300.0
#: Per directed trust edge: CSR arrays and networkx's build of the topology.
BYTES_PER_EDGE = 140.0
#: Per event-log row (a decision), as columns and then as a DataFrame.
BYTES_PER_DECISION = 400.0
#: Share of reviewed workers that reach a decision per round, per evaluator.
DECISIONS_PER_REVIEW = 0.15
#: Wall time of a step: a fixed part and a part per model (the default fleet, 2 cores).
SECONDS_PER_STEP = 3e-4
SECONDS_PER_MODEL_STEP = 2e-7
SECONDS_PER_MODEL_BUILT = 1.2e-5
#: Per model and per directed edge at each snapshot (``record.snapshots_every``): recorded,
#: then as tables and written (measured at 5,000 models, mean degree 6 and 20: 170 and 31
#: bytes, 0.7 and 0.23 microseconds).
BYTES_PER_MODEL_SNAPSHOT = 200.0
BYTES_PER_EDGE_SNAPSHOT = 40.0
SECONDS_PER_MODEL_SNAPSHOT = 1e-6
SECONDS_PER_EDGE_SNAPSHOT = 3e-7


@dataclass(frozen=True)
class Estimate:
    """A run's estimated peak memory (bytes: the fleet and its graph, the event log that
    grows with every round, and the snapshots) and wall time (seconds)."""

    fleet_memory: float
    log_memory: float
    seconds: float
    snapshot_memory: float = 0.0

    @property
    def memory(self) -> float:
        return self.fleet_memory + self.log_memory + self.snapshot_memory


def estimate(app) -> Estimate:
    """Estimate the peak memory and wall time of running ``app`` (an AppConfig)."""
    n = app.population.n_agents
    graph = app.graph
    degree = n - 1 if graph.topology == "complete" else graph.mean_degree
    edges = n * degree * (2 if graph.topology == "labs" else 1)
    rounds = _rounds(app)
    workers, _ = role_counts(n, app.population.overseer_fraction)
    decisions = (
        rounds * workers * app.schedule.review_fraction * DECISIONS_PER_REVIEW
        * (app.interventions.quorum + 1)
    )  # fmt: skip
    per_step = SECONDS_PER_STEP + n * SECONDS_PER_MODEL_STEP
    every = app.record.every(n)
    snapshots = app.steps // every + 2 if every else 0  # steps 0, K, 2K, ... and the last
    return Estimate(
        fleet_memory=BASE_BYTES + n * BYTES_PER_MODEL + edges * BYTES_PER_EDGE,
        log_memory=decisions * BYTES_PER_DECISION,
        seconds=n * SECONDS_PER_MODEL_BUILT
        + app.steps * per_step
        + snapshots * (n * SECONDS_PER_MODEL_SNAPSHOT + edges * SECONDS_PER_EDGE_SNAPSHOT),
        snapshot_memory=snapshots
        * (n * BYTES_PER_MODEL_SNAPSHOT + edges * BYTES_PER_EDGE_SNAPSHOT),
    )


def _rounds(app) -> float:
    schedule = app.schedule
    return 0.0 if schedule.kind == "none" else app.steps / schedule.interval


def available_memory() -> float | None:
    """Bytes of memory available to a new process (Linux ``MemAvailable``), else the
    physical memory, else None when the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_resources(app) -> None:
    """Refuse a run estimated to need more memory or time than ``app.limits`` allow.

    ``limits.memory_gb`` defaults to the memory available now; 0 turns a check off. The
    time check is skipped for the ``llm`` engine, whose time is the provider's.

    Raises:
        ConfigError: naming the key that sets the size, with the estimate and the limit.
    """
    cost = estimate(app)
    limits = app.limits
    budget = available_memory() if limits.memory_gb is None else limits.memory_gb * 2**30
    if budget and cost.memory > budget:
        source = "available" if limits.memory_gb is None else "limits.memory_gb"
        # Name the fleet's size when the fleet alone does not fit, else the run's length,
        # else (the run fits without them) the snapshots' interval.
        key, value = ("population.n_agents", app.population.n_agents)
        if cost.fleet_memory + cost.log_memory <= budget:
            key, value = "record.snapshots_every", app.record.snapshots_every
        elif cost.fleet_memory <= budget:
            key, value = "steps", app.steps
        raise ConfigError(
            f"{key}: {app.steps} steps of {app.population.n_agents} models need about "
            f"{_bytes(cost.memory)} of memory, over the {_bytes(budget)} {source} (raise "
            f"limits.memory_gb, or 0 to skip this check), got {value}"
        )
    if limits.hours and app.engine.kind != "llm" and cost.seconds > limits.hours * 3600:
        raise ConfigError(
            f"steps: {app.steps} steps of {app.population.n_agents} models take about "
            f"{_duration(cost.seconds)}, over limits.hours={limits.hours:g} (raise it, or 0 to "
            f"skip this check), got {app.steps}"
        )


def _bytes(value: float) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    power = min(int(math.log(max(value, 1), 1024)), len(units) - 1)
    return f"{value / 1024**power:.3g} {units[power]}"


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 60:.3g} minutes"
