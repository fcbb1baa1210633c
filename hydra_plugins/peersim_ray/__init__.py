"""``hydra/launcher=ray_cluster``: the runs of a sweep as tasks on a running Ray cluster."""
