"""Cluster launchers and the Optuna sweeper: configs compose, tiny sweeps run through them.

Each plugin is optional (extras ``slurm``, ``ray``, ``optuna``); tests that need one skip
when it is not installed. Ray needs its own venv (it pins cloudpickle<3, joblib>=1.6 needs
>=3): set ``PEERSIM_RAY_PYTHON`` to that venv's python to run the Ray test from here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments.cheapest_oversight.objective import OversightObjective
from sim.app.config import CONF_DIR, register

ROOT = Path(__file__).resolve().parent.parent
TINY = ["population.n_agents=30", "steps=5", "figures=false", "progress=false"]


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


needs_submitit = pytest.mark.skipif(
    not _has("hydra_plugins.hydra_submitit_launcher"),
    reason="hydra-submitit-launcher not installed (pip install -e '.[slurm]')",
)
needs_optuna = pytest.mark.skipif(
    not _has("hydra_plugins.hydra_optuna_sweeper"),
    reason="hydra-optuna-sweeper not installed (pip install -e '.[optuna]')",
)


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def _sweep(args: list[str], python: str = sys.executable) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "sim", "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    )


def _done(sweep_dir: Path) -> list[Path]:
    return sorted(sweep_dir.rglob("done"))


@needs_submitit
def test_slurm_launcher_config_composes():
    launcher = _compose(["hydra/launcher=slurm", "hydra.launcher.partition=short"]).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.timeout_min == 60
    assert launcher.cpus_per_task == 1
    assert launcher.mem_gb == 4
    assert launcher.array_parallelism == 64
    assert launcher.partition == "short"


@needs_submitit
def test_slurm_launcher_config_makes_an_sbatch_script(tmp_path, monkeypatch):
    """The launcher's settings, passed to submitit as the plugin does, become sbatch flags."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    (tmp_path / "srun").write_text("#!/bin/sh\nexit 0\n")  # submitit checks srun exists
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    cfg = _compose(["hydra/launcher=slurm", "hydra.launcher.partition=short"])
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    for key in ("_target_", "submitit_folder", "max_num_timeout"):
        params.pop(key)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    try:
        script = executor._executor._make_submission_file_text("python -m sim", "uid")
    except AttributeError:
        pytest.skip("this submitit version renders sbatch scripts differently")
    for flag in ("--cpus-per-task=1", "--mem=4GB", "--time=60", "--partition=short"):
        assert f"#SBATCH {flag}" in script
    assert "#SBATCH --job-name=peersim" in script


@needs_submitit
def test_sweep_through_submitit_local_executor(tmp_path):
    args = ["hydra/launcher=submitit_local", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"]
    done = _sweep(args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_done(tmp_path)) == 2
    assert (tmp_path / ".submitit").is_dir()  # the jobs really went through submitit
    # The jobs ran in other processes, and the sweep still counts them as its own.
    assert "[sweep] 2/2 done: 2 computed, 0 skipped (already done), 0 failed, 0 left" in done.stdout


def test_ray_local_sweep(tmp_path):
    python = os.environ.get("PEERSIM_RAY_PYTHON", sys.executable)
    probe = subprocess.run(
        [python, "-c", "import hydra_plugins.hydra_ray_launcher, ray"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(
            f"hydra-ray-launcher not importable by {python} (install it in its own venv, "
            "pip install -e '.[ray]', and set PEERSIM_RAY_PYTHON to that venv's python)"
        )
    done = _sweep(
        ["hydra/launcher=ray_local", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"], python
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_done(tmp_path)) == 2


@needs_optuna
def test_optuna_sweeper_and_experiment_compose():
    cfg = _compose(["experiment=cheapest_oversight"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("optuna_sweeper.OptunaSweeper")
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert sweeper.direction == "minimize"
    assert set(sweeper.params) == {
        "operator.audit_rate",
        "operator.monitoring",
        "interventions.quorum",
    }
    assert cfg.hydra.callbacks.objective._target_.endswith("objective.OversightObjective")
    assert cfg.interventions.cross_family


def test_objective_is_cost_within_target_and_penalised_over_it():
    objective = OversightObjective(
        target=0.2, costs={"audit_rate": 10, "monitoring": 2, "quorum": 1}, penalty=100
    )
    config = OmegaConf.create(
        {"operator": {"audit_rate": 0.1, "monitoring": 0.5}, "interventions": {"quorum": 3}}
    )
    cost = 10 * 0.1 + 2 * 0.5 + 1 * 2
    assert objective.value(config, {"loss_of_control": 0.15}) == pytest.approx(cost)
    assert objective.value(config, {"loss_of_control": 0.3}) == pytest.approx(cost + 100 + 10)
    assert objective.value(config, {"loss_of_control": None}) == pytest.approx(cost + 100 + 80)
    pareto = OversightObjective(costs={"audit_rate": 10}, returns="pareto")
    assert pareto.value(config, {"loss_of_control": 0.3}) == pytest.approx([1.0, 0.3])


@needs_optuna
def test_three_trial_optuna_sweep(tmp_path):
    done = _sweep(
        [
            "experiment=cheapest_oversight",
            "hydra.sweeper.n_trials=3",
            "population.n_agents=40",
            "steps=30",
            "figures=false",
            "progress=false",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_done(tmp_path)) == 3
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert isinstance(results.best_value, float)
    assert set(results.best_params) == {
        "operator.audit_rate",
        "operator.monitoring",
        "interventions.quorum",
    }
    assert 0 <= results.best_params["operator.audit_rate"] <= 0.5
