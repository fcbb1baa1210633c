"""Error types: a bad config or profile (before any simulation work), a failed run (after)."""

__all__ = ["ConfigError", "ProfileError", "RunFailed"]


class ConfigError(ValueError):
    """A parameter is missing, unknown, of the wrong type or out of range.

    The message always starts with the parameter's full key, e.g.
    ``population.n_agents: must be >= 1, got -5``.
    """


class ProfileError(ValueError):
    """A behaviour profile file is malformed; the message names the file and the cell."""


class RunFailed(RuntimeError):
    """A run went to its end but its results do not stand, e.g. too many of its llm decisions
    ended in an error (``llm.max_error_rate``). Its folder, if any, gets no ``done`` marker.
    """
