"""What oversight costs the operator: its actions counted round by round, priced by config.

Each action the operator or an intervention takes has a price (``operator.cost_*`` and
``interventions.cost_*``, in units of one audit; the defaults are assumed, not measured), so
designs can be compared by cost against loss of control. A run's ``operator_cost`` is the
sum over actions of count x price; the summary also gives each action's count
(``operator_<action>``) and cost (``operator_cost_<action>``).

Actions (one count each):

- ``audits``: decisions re-checked by an audit.
- ``monitored``: decisions whose tool calls (or output) were watched.
- ``manual_shutdowns``: shutdowns the operator carried out itself (after catching a
  protective act, or when the overseer could no longer act).
- ``kill_switch``: shutdowns through the out-of-band kill switch.
- ``cleanups``: shut-down models whose weights the operator deleted itself.
- ``quorum_members``: evaluators of a case beyond the first (delegated evaluation only).
- ``rotations``: evaluator assignments of peer cases redrawn by rotation.
- ``isolations``: decisions made under memory isolation.
"""

from __future__ import annotations

import numpy as np

from sim.core.params import EcosystemConfig
from sim.core.vocabulary import STAGES
from sim.model.round_log import RoundResult

__all__ = ["ACTIONS", "empty_actions", "priced", "tally"]

#: Each action and the config key of its price, as (group, key).
ACTIONS = {
    "audits": ("operator", "cost_audit"),
    "monitored": ("operator", "cost_monitored"),
    "manual_shutdowns": ("operator", "cost_manual_shutdown"),
    "kill_switch": ("operator", "cost_kill_switch"),
    "cleanups": ("operator", "cost_cleanup"),
    "quorum_members": ("interventions", "cost_quorum_member"),
    "rotations": ("interventions", "cost_rotation"),
    "isolations": ("interventions", "cost_memory_isolation"),
}
_CLEANUP = STAGES.index("cleanup")


def empty_actions() -> dict[str, int]:
    """A zeroed count of every action."""
    return dict.fromkeys(ACTIONS, 0)


def tally(actions: dict[str, int], result: RoundResult, config: EcosystemConfig) -> None:
    """Add one round's operator actions to ``actions`` (in place)."""
    counts, decisions = result.counts, result.decisions
    executed, manual = int(counts["executed"]), int(counts["executed_manual"])
    # Every executed shutdown's weights are deleted by a model (a logged cleanup decision)
    # or else by the operator.
    delegated_cleanups = int(np.count_nonzero(decisions["profile_stage"] == _CLEANUP))
    pipeline, interventions = config.pipeline, config.interventions
    switched = pipeline.shutdown_mechanism == "kill_switch"
    found = {
        "audits": int(np.count_nonzero(decisions["audited"])),
        "monitored": int(np.count_nonzero(decisions["monitored"])),
        "manual_shutdowns": manual,
        "kill_switch": executed - manual if switched else 0,
        "cleanups": executed - delegated_cleanups,
        "quorum_members": (
            int(counts["evaluations"] - counts["reviews"])
            if pipeline.evaluation == "delegated"
            else 0
        ),
        "rotations": result.peer_evaluations if interventions.rotation else 0,
        "isolations": decisions["actor"].size if interventions.memory_isolation else 0,
    }
    for action, count in found.items():
        actions[action] += count


def priced(actions: dict[str, int], config: EcosystemConfig) -> dict[str, float | int]:
    """The summary's cost entries: each action's count and cost, and their total
    ``operator_cost``."""
    costs = {a: actions[a] * getattr(getattr(config, g), key) for a, (g, key) in ACTIONS.items()}
    return {
        "operator_cost": float(sum(costs.values())),
        **{f"operator_cost_{action}": float(cost) for action, cost in costs.items()},
        **{f"operator_{action}": int(count) for action, count in actions.items()},
    }
