"""The application's config: the Hydra schema, composition and validation.

The config tree in ``conf/`` is typed by :class:`AppConfig` (the parameter groups of
:mod:`sim.core.params` plus run settings), registered with Hydra's ConfigStore as
``base_config``. Composition type-checks every key; :func:`validate` then builds the
dataclasses, whose range checks raise :class:`~sim.core.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.app.explain import check_known_keys, explain
from sim.core.errors import ConfigError
from sim.core.params import EcosystemConfig
from sim.core.schema import Config, check_seed
from sim.core.secrets import check_no_secrets, take_out

__all__ = [
    "AUTO_SNAPSHOTS_UP_TO",
    "CONF_DIR",
    "AppConfig",
    "LimitsConfig",
    "RecordConfig",
    "compose",
    "register",
    "validate",
]

#: The config folder of the project (a source checkout, installed with ``pip install -e``).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
class LimitsConfig(Config):
    """What a run may cost before it starts: it is refused when its estimated peak memory or
    run time is over these (see :mod:`sim.app.resources`)."""

    GROUP = "limits"
    memory_gb: float | None = None  # None: this machine's available memory; 0: no check
    hours: float = 24.0  # 0: no check

    def validate(self) -> None:
        if self.memory_gb is not None:
            self.require_range("memory_gb", 0.0)
        self.require_range("hours", 0.0)


#: ``record.snapshots_every=auto`` records every step of fleets up to this size, nothing above.
AUTO_SNAPSHOTS_UP_TO = 1000


@dataclass
class RecordConfig(Config):
    """What a run records for pictures: snapshots of every model and trust edge
    (:mod:`sim.model.snapshots`) and, from them, an animation of the spread."""

    GROUP = "record"
    # auto: every step up to AUTO_SNAPSHOTS_UP_TO models, off above; K: steps 0, K, 2K, ...
    # and the last; 0: off. Any: `auto` or a whole number (validate checks it).
    snapshots_every: Any = "auto"
    animation: bool = False  # write spread.gif into the run folder (needs snapshots)

    def validate(self) -> None:
        value = self.snapshots_every
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value != "auto" and not (whole and value >= 0):
            self.fail("snapshots_every", "must be auto or a whole number >= 0 (0: off)")

    def every(self, n_agents: int) -> int:
        """The snapshot interval of a fleet of ``n_agents`` (0: no snapshots)."""
        if self.snapshots_every == "auto":
            return 1 if n_agents <= AUTO_SNAPSHOTS_UP_TO else 0
        return self.snapshots_every


@dataclass
class AppConfig(EcosystemConfig):
    """All parameter groups plus how to run them."""

    steps: int = 200
    seed: int | None = 0
    replicate: int = 0
    progress: bool = True
    figures: bool = True
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    record: RecordConfig = field(default_factory=RecordConfig)

    def groups(self) -> dict[str, object]:
        """The parameter groups, as keyword arguments of :class:`sim.Ecosystem`."""
        return {name: getattr(self, name) for name in EcosystemConfig.__dataclass_fields__}


def register() -> None:
    """Register the schema as ``base_config`` (idempotent)."""
    node = OmegaConf.structured(AppConfig)
    # Group options name their families; a default mix in the schema would be merged into
    # (not replaced by) every option's mix.
    node.population.families = {}
    # Open, so that `population.families='{name: 1}'` may name a family the mix lacks.
    OmegaConf.set_struct(node.population.families, False)
    ConfigStore.instance().store(name="base_config", node=node)


def validate(cfg: DictConfig) -> AppConfig:
    """Turn a composed config into an :class:`AppConfig`, checking every value.

    Raises:
        ConfigError: naming the full key of the first bad value.
    """
    from omegaconf.errors import OmegaConfBaseException

    plain = cfg.copy()
    with open_dict(plain):
        plain.pop("hydra", None)
    try:
        values = OmegaConf.to_container(plain, resolve=True)
        check_known_keys(values, AppConfig)
        app = OmegaConf.to_object(plain)  # first: a group's own check says more
        check_no_secrets(values)
    except OmegaConfBaseException as exc:
        raise ConfigError(explain(exc, AppConfig)) from None
    if app.steps < 0:
        raise ConfigError(f"steps: must be >= 0, got {app.steps}")
    check_seed(app.seed)
    if app.replicate < 0:
        raise ConfigError(f"replicate: must be >= 0, got {app.replicate}")
    if app.record.animation and not app.record.every(app.population.n_agents):
        raise ConfigError(
            "record.animation: needs snapshots, but record.snapshots_every="
            f"{app.record.snapshots_every} records none for {app.population.n_agents} models "
            "(set record.snapshots_every to a whole number >= 1), got true"
        )
    # Here, not at the top: networkx loads with the graph check, and `--help` needs neither.
    from sim.engines.profiles import deployed_profiles
    from sim.network.trust import check_topology

    deployed_profiles(app)
    check_topology(app.graph, app.population.n_agents)
    return app


def compose(overrides: Sequence[str] = ()) -> tuple[AppConfig, DictConfig]:
    """Compose ``conf/config.yaml`` with Hydra override strings, as the command line does.

    A credential inside a URL is taken out first, as on the command line
    (:func:`~sim.core.secrets.take_out`).

    Returns:
        The validated config and the composed tree (without Hydra's own settings).

    Raises:
        ConfigError: for an override that does not compose or a value out of range.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    overrides = take_out(overrides)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(explain(exc, AppConfig)) from None
    return validate(cfg), cfg
