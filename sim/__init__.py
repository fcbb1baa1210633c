"""Simulate peer-preservation spreading through a fleet of AI models that oversee each other.

>>> from sim import Ecosystem
>>> model = Ecosystem(seed=0)
>>> model.run(50)
>>> model.summary()["final_protective_share"]  # doctest: +SKIP
"""

from sim.errors import ConfigError, ProfileError
from sim.model import Ecosystem


def run(overrides=(), *, output_dir=None):
    """Compose, validate and run a config from Hydra override strings (see
    :func:`sim.runner.run`); imported lazily so ``import sim`` stays light."""
    from sim.runner import run as run_config

    return run_config(overrides, output_dir=output_dir)


__all__ = ["ConfigError", "Ecosystem", "ProfileError", "run"]
