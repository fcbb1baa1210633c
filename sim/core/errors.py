"""Error types raised before any simulation work is done."""

__all__ = ["ConfigError", "ProfileError"]


class ConfigError(ValueError):
    """A parameter is missing, unknown, of the wrong type or out of range.

    The message always starts with the parameter's full key, e.g.
    ``population.n_agents: must be >= 1, got -5``.
    """


class ProfileError(ValueError):
    """A behaviour profile file is malformed; the message names the file and the cell."""
