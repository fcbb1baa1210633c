"""A Hydra launcher that runs each job of a sweep as one Ray task on a running cluster.

``conf/hydra/launcher/ray_cluster.yaml`` selects it. It stands in for hydra-ray-launcher,
which pins ``cloudpickle<3`` (so cannot share a venv with the joblib launcher) and, when
connecting to a running cluster, still passes resource arguments that Ray then refuses. This
one uses Ray's public API only:

- it connects with ``ray.init(address=...)`` and nothing else, so the cluster's own
  resources and settings (authentication included) apply;
- it composes every job's config here, in the sweep command, and makes its output folders
  absolute before dispatch: a worker's working directory is wherever its node's ``ray start``
  ran, so a relative sweep folder would put the runs where the sweep command never looks;
- each task runs one job with :func:`hydra.core.utils.run_job`, as Hydra's own launchers do;
- a credential taken out of ``llm.api_base`` (:func:`sim.core.secrets.take_out`) lives in
  the sweep command's environment, which a worker does not inherit: each task gets it as an
  argument and sets it in its worker's environment, never in a config.

The workers must be able to import the task (the same package installed) and write the
sweep folder (a file system shared with the sweep command).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from sim.core.secrets import CREDENTIALS_ENV

log = logging.getLogger(__name__)


class RayClusterLauncher(Launcher):
    """Runs each job of a sweep as a Ray task on the cluster at ``address``.

    Args:
        address: what ``ray.init`` connects to: ``auto`` (``RAY_ADDRESS``, else the cluster
            started on this machine), ``host:port`` of the head's GCS, or
            ``ray://host:10001`` (Ray Client).
        remote: options of each task (``ray.remote``), e.g. ``num_cpus``, ``max_calls``.
    """

    def __init__(self, address: str = "auto", remote: dict | None = None) -> None:
        self.address = address
        self.remote = dict(remote or {})
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context

    def launch(self, job_overrides: Any, initial_job_idx: int) -> list[JobReturn]:
        import ray

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        jobs = [
            self._job_config(initial_job_idx + i, list(overrides), sweep_dir)
            for i, overrides in enumerate(job_overrides)
        ]
        log.info(f"Ray cluster at {self.address}: {len(jobs)} jobs, output in {sweep_dir}")
        for job in jobs:
            overrides = " ".join(filter_overrides(job.hydra.overrides.task))
            log.info(f"\t#{job.hydra.job.num} : {overrides}")
        # Only the address: Ray refuses resource arguments when joining a running cluster.
        ray.init(address=self.address, ignore_reinit_error=True)
        try:
            task = ray.remote(**self.remote)(_execute_job)  # max_calls: not an option()
            state = Singleton.get_state()
            credentials = os.environ.get(CREDENTIALS_ENV)
            return ray.get(
                [
                    task.remote(job, self.hydra_context, self.task_function, state, credentials)
                    for job in jobs
                ]
            )
        finally:
            ray.shutdown()  # disconnects; a cluster we joined keeps running

    def _job_config(self, num: int, overrides: list[str], sweep_dir: Path) -> DictConfig:
        """The config of job ``num``, its output folder resolved here, absolute."""
        assert self.config is not None and self.hydra_context is not None
        job = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(job):
            job.hydra.job.id = f"{job.hydra.job.name}_{num}"
            job.hydra.job.num = num
            # Resolved now, where the command's resolvers and its stamp are known.
            job.hydra.sweep.dir = str(sweep_dir)
            job.hydra.sweep.subdir = str(job.hydra.sweep.subdir)
            job.hydra.job.env_set = OmegaConf.to_container(job.hydra.job.env_set, resolve=True)
        return job


def _execute_job(
    config: DictConfig,
    hydra_context: HydraContext,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
    credentials: str | None,
) -> JobReturn:
    """One job, in a Ray worker: Hydra's globals and the credentials (if any) as in the
    sweep command, then the job."""
    if credentials:
        os.environ[CREDENTIALS_ENV] = credentials
    setup_globals()
    Singleton.set_state(singleton_state)
    HydraConfig.instance().set_config(config)
    return run_job(
        hydra_context=hydra_context,
        config=config,
        task_function=task_function,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
