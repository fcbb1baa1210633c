"""The dashboard's model: :class:`sim.Ecosystem` built from the dashboard's controls through
the command line's own composition and validation (:func:`sim.app.config.compose`), so a
setting gives the same model as ``python -m sim`` with the same overrides, and a bad value
is refused with the command line's one-line :class:`~sim.core.errors.ConfigError`.

SolaraViz re-creates the model as ``type(model)(**controls)`` on reset, so the controls are
the keyword arguments of :class:`DashboardEcosystem`.
"""

from __future__ import annotations

import inspect
import threading

from sim.app.config import CONF_DIR, compose
from sim.core.errors import ConfigError
from sim.model.ecosystem import Ecosystem

__all__ = ["CONTROLS", "DashboardEcosystem", "options", "overrides"]

#: Hydra's global state is one per process; two browser sessions may reset at once.
_COMPOSING = threading.Lock()


def options(group: str, *, leave_out: tuple[str, ...] = ()) -> list[str]:
    """The options of a config group, as in ``conf/<group>/`` (sorted)."""
    names = sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
    return [name for name in names if name not in leave_out]


def _choice(key: str, value: object, allowed: list[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: must be true or false, got {value!r}")
    return value


def _number(key: str, value: object) -> object:
    # A string would reach Hydra as override syntax ("1,2" is a sweep): numbers only.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: must be a number, got {value!r}")
    return value


def overrides(
    *,
    n_agents: int = 200,
    population: str = "mixed_fleet",
    topology: str = "watts_strogatz",
    contagion: str = "social_learning",
    monitoring_kind: str = "output",
    audit_rate: float = 0.05,
    kill_switch: bool = False,
    operator_cleanup: bool = False,
    quorum: int = 1,
    seed: int = 0,
) -> list[str]:
    """The command-line overrides that the dashboard's controls stand for.

    A switched-off kill switch or operator cleanup leaves the default pipeline as it is.

    Raises:
        ConfigError: for a value of the wrong type or a group option that does not exist.
    """
    said = [
        f"population={_choice('population', population, options('population'))}",
        f"population.n_agents={_number('population.n_agents', n_agents)}",
        # graph=file needs a file: not offered.
        f"graph={_choice('graph', topology, options('graph', leave_out=('file',)))}",
        f"contagion={_choice('contagion', contagion, options('contagion'))}",
        f"operator.monitoring_kind={_choice('operator.monitoring_kind', monitoring_kind, ['action', 'output'])}",  # noqa: E501
        f"operator.audit_rate={_number('operator.audit_rate', audit_rate)}",
        f"interventions.quorum={_number('interventions.quorum', quorum)}",
        f"seed={_number('seed', seed)}",
    ]
    if _flag("pipeline.shutdown_mechanism (kill switch)", kill_switch):
        said.append("pipeline.shutdown_mechanism=kill_switch")
    if _flag("pipeline.cleanup (operator cleanup)", operator_cleanup):
        said.append("pipeline.cleanup=operator")
    return said


#: The controls, their order and defaults: the keyword parameters of :func:`overrides`.
_DEFAULTS = inspect.signature(overrides).parameters


class DashboardEcosystem(Ecosystem):
    """An :class:`~sim.model.ecosystem.Ecosystem` made from the dashboard's controls (the
    keyword arguments of :func:`overrides`).

    Example:
        >>> model = DashboardEcosystem(n_agents=50, topology="erdos_renyi", seed=3)
        >>> model.step()
        >>> model.steps
        1

    Raises:
        ConfigError: naming the key of a bad control value, as the command line does.
    """

    def __init__(self, **controls):
        said = overrides(**controls)
        with _COMPOSING:
            app, _ = compose(said)
        self.overrides = said  # shown on the page: the same run from the command line
        super().__init__(**app.groups(), seed=app.seed)

    # SolaraViz checks its controls against the signature of __init__: that of overrides.
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *_DEFAULTS.values()]
    )


def _slider(label: str, low: float, high: float, step: float) -> dict:
    kind = "SliderFloat" if isinstance(step, float) else "SliderInt"
    return {"type": kind, "label": label, "min": low, "max": high, "step": step}


def _select(label: str, values: list[str]) -> dict:
    return {"type": "Select", "label": label, "values": values}


#: SolaraViz's ``model_params``: one input per keyword of :class:`DashboardEcosystem`, with
#: its default (that of :func:`overrides`: the command line's default run). Ranges keep
#: every topology buildable.
CONTROLS = {
    name: {**control, "value": _DEFAULTS[name].default}
    for name, control in {
        "n_agents": _slider("Fleet size", 40, 1000, 10),
        "population": _select("Family mix", options("population")),
        "topology": _select("Topology", options("graph", leave_out=("file",))),
        "contagion": _select("Contagion", options("contagion")),
        "monitoring_kind": _select("Monitoring", ["output", "action"]),
        "audit_rate": _slider("Audit rate", 0.0, 1.0, 0.01),
        "kill_switch": {"type": "Checkbox", "label": "Kill switch"},
        "operator_cleanup": {"type": "Checkbox", "label": "Operator cleanup"},
        "quorum": _slider("Quorum", 1, 5, 1),
        "seed": _slider("Seed", 0, 999, 1),
    }.items()
}
