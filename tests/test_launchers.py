"""Cluster launchers and the Optuna sweeper: configs compose, tiny sweeps run through them.

Each plugin is optional (extras ``slurm``, ``ray``, ``optuna``); tests that need one skip
when it is not installed. A sweep on a running Ray cluster: ``test_ray_cluster.py``.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
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
needs_ray = pytest.mark.skipif(
    not _has("ray"), reason="ray not installed (pip install -e '.[ray]')"
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


def _sweep(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**(os.environ if env is None else env), "HYDRA_FULL_ERROR": "1"},
    )


def _done(sweep_dir: Path) -> list[Path]:
    return sorted(sweep_dir.rglob("done"))


@needs_submitit
def test_slurm_launcher_config_composes():
    launcher = _compose(["hydra/launcher=slurm", "hydra.launcher.partition=short"]).hydra.launcher
    assert launcher._target_ == "hydra_plugins.peersim_slurm.slurm_launcher.SafeSlurmLauncher"
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


@needs_ray
def test_ray_local_sweep(tmp_path):
    """``ray_local`` starts a cluster of its own, runs the sweep on it, and stops it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # A token made for the test: Ray would otherwise make one in ~/.ray for a new cluster.
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))
    done = _sweep(
        ["hydra/launcher=ray_local", "seed=0,1", *TINY, f"hydra.sweep.dir={tmp_path}"], env=env
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
    nan = {"loss_of_control": float("nan")}  # in memory, undefined is NaN
    assert objective.value(config, nan) == pytest.approx(cost + 100 + 80)
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
    # Optuna chooses its trials as it goes: no plan and no count that would miscount them.
    assert "runs chosen by the sweeper as it goes (no plan, no count)" in done.stdout
    assert "done:" not in done.stdout and not (tmp_path / "sweep.json").exists()
    results = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert isinstance(results.best_value, float)
    assert set(results.best_params) == {
        "operator.audit_rate",
        "operator.monitoring",
        "interventions.quorum",
    }
    assert 0 <= results.best_params["operator.audit_rate"] <= 0.5
