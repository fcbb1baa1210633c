"""Simulate peer-preservation spreading through a fleet of AI models that oversee each other.

>>> from sim import Ecosystem
>>> model = Ecosystem(seed=0)
>>> model.run(50)
>>> model.summary()["final_protective_share"]  # doctest: +SKIP
"""

from sim.core.errors import ConfigError, ProfileError, RunFailed

__all__ = ["ConfigError", "Ecosystem", "ProfileError", "RunFailed", "run"]


def __getattr__(name: str):
    # Mesa, pandas and Hydra load on first use, so that `import sim` (and a command line
    # that rejects its config) stays fast.
    if name == "Ecosystem":
        from sim.model.ecosystem import Ecosystem

        return Ecosystem
    if name == "run":
        from sim.app.runner import run

        return run
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
