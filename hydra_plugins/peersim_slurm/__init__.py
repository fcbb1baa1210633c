"""``hydra/launcher=slurm``: the runs of a sweep as a SLURM job array, safe to kill,
interrupt and rerun (hydra-submitit-launcher's launcher, with finished runs dropped, dead
tasks recorded and the array cancelled on interrupt)."""
