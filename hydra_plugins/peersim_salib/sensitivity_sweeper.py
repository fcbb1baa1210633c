"""A Hydra sweeper that runs a sensitivity design (:mod:`sim.app.sensitivity`).

It launches the design's runs through the configured launcher, like the basic sweeper
(so every launcher, resuming and the sweep's books work as for any sweep), after writing the
design into the sweep folder (:data:`sim.app.sensitivity.DESIGN`) for the analysis.
"""

from __future__ import annotations

from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from sim.app import sensitivity
from sim.app.sweep_plan import plan_folders
from sim.io.outputs import write_json


class SensitivitySweeper(Sweeper):
    """Runs every point of a Morris or Sobol design, crossed with the command line's sweep."""

    def __init__(self, max_batch_size: int | None = None, **design: object) -> None:
        # The design (method, factors, ...) is read from the config in sweep(), as the plan
        # of the sweep reads it (sim.app.sensitivity.jobs).
        self.max_batch_size = max_batch_size
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        assert self.config is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        (swept,) = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
        design, runs = sensitivity.jobs(self.config, [list(o) for o in swept])
        folders = [name for _, name in plan_folders(self.config)]
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        write_json(sweep_dir / sensitivity.DESIGN, sensitivity.record(design, runs, folders))
        size = self.max_batch_size or len(runs)
        returns = []
        for start in range(0, len(runs), size):
            batch = runs[start : start + size]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=start)
            for result in results:
                _ = result.return_value  # raises if the job raised, as the basic sweeper does
            returns.append(results)
        return returns
