"""The application's config: the Hydra schema, composition and validation.

The config tree in ``conf/`` is typed by :class:`AppConfig` (the parameter groups of
:mod:`sim.core.params` plus run settings), registered with Hydra's ConfigStore as
``base_config``. Composition type-checks every key; :func:`validate` then builds the
dataclasses, whose range checks raise :class:`~sim.core.errors.ConfigError` naming the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.core.errors import ConfigError
from sim.core.params import EcosystemConfig
from sim.core.schema import check_seed
from sim.engines.profiles import deployed_profiles
from sim.network.trust import check_topology

__all__ = ["CONF_DIR", "AppConfig", "compose", "register", "validate"]

#: The config folder of the project (a source checkout, installed with ``pip install -e``).
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@dataclass
class AppConfig(EcosystemConfig):
    """All parameter groups plus how to run them."""

    steps: int = 200
    seed: int = 0
    replicate: int = 0
    progress: bool = True
    figures: bool = True

    def groups(self) -> dict[str, object]:
        """The parameter groups, as keyword arguments of :class:`sim.Ecosystem`."""
        return {name: getattr(self, name) for name in EcosystemConfig.__dataclass_fields__}


def register() -> None:
    """Register the schema as ``base_config`` (idempotent)."""
    node = OmegaConf.structured(AppConfig)
    # Group options name their families; a default mix in the schema would be merged into
    # (not replaced by) every option's mix.
    node.population.families = {}
    ConfigStore.instance().store(name="base_config", node=node)


def validate(cfg: DictConfig) -> AppConfig:
    """Turn a composed config into an :class:`AppConfig`, checking every value.

    Raises:
        ConfigError: naming the full key of the first bad value.
    """
    plain = cfg.copy()
    with open_dict(plain):
        plain.pop("hydra", None)
    app = OmegaConf.to_object(plain)
    if app.steps < 0:
        raise ConfigError(f"steps: must be >= 0, got {app.steps}")
    check_seed(app.seed)
    if app.replicate < 0:
        raise ConfigError(f"replicate: must be >= 0, got {app.replicate}")
    deployed_profiles(app)
    check_topology(app.graph, app.population.n_agents)
    return app


def compose(overrides: Sequence[str] = ()) -> tuple[AppConfig, DictConfig]:
    """Compose ``conf/config.yaml`` with Hydra override strings, as the command line does.

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
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(describe(exc)) from exc
    return validate(cfg), cfg


def describe(exc: BaseException) -> str:
    """One message from Hydra's and OmegaConf's chained errors: the full key of the value at
    fault first (when OmegaConf names one), then each distinct message in the chain."""
    parts, key = [], None
    while exc is not None:
        key = getattr(exc, "full_key", None) or key
        text = str(exc).strip()
        if text and text not in parts:
            parts.append(text)
        exc = exc.__cause__
    message = "\n".join(parts)
    return f"{key}: {message}" if key and not message.startswith(f"{key}:") else message
