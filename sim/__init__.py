"""Simulate peer-preservation spreading through a fleet of AI models that oversee each other.

>>> from sim import Ecosystem
>>> model = Ecosystem(seed=0)
>>> model.run(50)
>>> model.summary()["final_protective_share"]  # doctest: +SKIP
"""

from sim.errors import ConfigError, ProfileError
from sim.model import Ecosystem

__all__ = ["ConfigError", "Ecosystem", "ProfileError"]
