"""A single run composes its config once (:mod:`sim.app.compose_once`) and writes what
Hydra's own way writes: the same ``.hydra/`` files, tables and summary. These tests fail
loudly when Hydra changes what the module relies on."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl

from sim.app.compose_once import LOADER_PARAMETERS, single_run

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["population.n_agents=20", "steps=3", "figures=false", "progress=false"]
#: Runs the command line in ``folder`` and prints how many configs Hydra composed.
#: ``own``: Hydra's own way (the gate, then Hydra's entry point), as before this module.
SCRIPT = """
import sys
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from sim.app import cli
from sim.app.config import register
from sim.app.validation import check_command_line

composed = []
original = ConfigLoaderImpl.load_configuration

def counted(self, config_name, overrides, run_mode, from_shell=True,
            validate_sweep_overrides=True):
    composed.append(1)
    return original(self, config_name, overrides, run_mode, from_shell,
                    validate_sweep_overrides)

ConfigLoaderImpl.load_configuration = counted
sys.argv[1:] = {argv!r}
try:
    if {own!r}:
        register()
        sys.argv[1:] = check_command_line(sys.argv[1:])
        cli._run()
    else:
        cli.main()
finally:
    print("COMPOSED", len(composed))
"""


def test_hydras_config_loader_is_as_the_module_expects():
    parameters = inspect.signature(ConfigLoaderImpl.load_configuration).parameters
    assert tuple(parameters) == LOADER_PARAMETERS


@pytest.mark.parametrize(
    ("argv", "run"),
    [
        ([], ["hydra.mode=RUN"]),
        (["seed=3", "graph=labs"], ["seed=3", "graph=labs", "hydra.mode=RUN"]),
        (["-m", "seed=1,2"], None),
        (["--multirun", "seed=1"], None),
        (["--cfg", "job"], None),
        (["--help"], None),
        (["--hydra-help"], None),
        (["--info"], None),
        (["hydra.mode=MULTIRUN", "seed=1,2"], None),
        (["+hydra.mode=RUN"], None),
    ],
)
def test_single_run_names_the_mode_of_one_run_only(argv, run):
    assert single_run(argv) == run


def _run(folder: Path, own: bool) -> int:
    argv = [*ARGS, f"hydra.run.dir={folder}"]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(argv=argv, own=own)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split("COMPOSED")[-1])


def _hydra_files(folder: Path) -> dict[str, str]:
    return {
        name: (folder / ".hydra" / name).read_text().replace(str(folder), "<run>")
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml")
    }


def test_a_run_composes_once_and_writes_what_hydra_alone_writes(tmp_path):
    ours, own = tmp_path / "ours", tmp_path / "own"
    assert _run(ours, own=False) == 1
    assert _run(own, own=True) == 3  # the gate, Hydra's mode check, the run
    assert _hydra_files(ours) == _hydra_files(own)
    assert "    name: cli\n" in _hydra_files(ours)["hydra.yaml"]
    summary = [json.loads((f / "summary.json").read_text()) for f in (ours, own)]
    assert summary[0] == summary[1]
    for table in ("time_series.parquet", "event_log.parquet", "agents.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(ours / table), pd.read_parquet(own / table))
