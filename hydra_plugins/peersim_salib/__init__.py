"""``hydra/sweeper=sensitivity``: the runs of a SALib sensitivity design (Morris, Sobol)."""
