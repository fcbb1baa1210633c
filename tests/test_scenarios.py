"""Named scenarios (conf/scenario/): each design composes to what it says, the default is the
baseline, and a sweep over scenarios runs exactly those, one folder each, on common seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from sim import ConfigError
from sim.app.config import CONF_DIR, compose
from sim.app.sweep import derive_seed
from sim.app.sweep_book import PLAN

SMALL = ["population.n_agents=30", "steps=10"]


def scenarios() -> list[str]:
    return sorted(file.stem for file in (CONF_DIR / "scenario").glob("*.yaml"))


def plain(cfg) -> dict:
    values = OmegaConf.to_container(cfg, resolve=True)
    values.pop("hydra", None)
    return values


def test_the_scenarios_of_the_oversight_designs_exist():
    assert set(scenarios()) >= {
        "baseline", "hardened_operator", "kill_switch", "operator_cleanup", "vigilant_operator",
        "action_monitoring", "hands_off", "cross_family_quorum", "rotation", "memory_isolation",
    }  # fmt: skip


def test_the_default_is_the_baseline_and_changes_nothing():
    _, default = compose(SMALL)
    _, baseline = compose([*SMALL, "scenario=baseline"])
    assert plain(baseline) == plain(default)


@pytest.mark.parametrize("name", scenarios())
def test_every_scenario_sets_the_options_it_names(name):
    app, cfg = compose([*SMALL, f"scenario={name}"])
    overlay = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "scenario" / f"{name}.yaml"))
    overlay = overlay or {}
    switched = [next(iter(entry.items())) for entry in overlay.pop("defaults", [])]
    _, default = compose(SMALL)
    changed = set()
    for target, option in switched:
        group = target.removeprefix("override /")
        values = OmegaConf.to_container(OmegaConf.load(CONF_DIR / group / f"{option}.yaml"))
        for key, value in values.items():
            if key not in overlay.get(group, {}):
                assert OmegaConf.select(cfg, f"{group}.{key}") == value, (group, key)
        changed.add(group)
    for group, values in overlay.items():  # the scenario's own values beat its options'
        for key, value in values.items():
            assert getattr(getattr(app, group), key) == value, (group, key)
        changed.add(group)
    # Nothing else moves; every named design but the baseline changes something.
    unchanged = {k: v for k, v in plain(cfg).items() if k not in changed}
    assert unchanged == {k: v for k, v in plain(default).items() if k not in changed}
    assert bool(changed) == (name != "baseline")


def test_the_command_line_beats_a_scenario():
    app, _ = compose([*SMALL, "scenario=kill_switch", "pipeline.shutdown_mechanism=execute"])
    assert app.pipeline.shutdown_mechanism == "execute"
    app, _ = compose([*SMALL, "scenario=rotation", "interventions.quorum=2"])
    assert app.interventions.rotation and app.interventions.quorum == 2


def test_an_unknown_scenario_is_refused_naming_the_group():
    with pytest.raises(ConfigError, match=r"^scenario: unknown option .*got 'rotaton'"):
        compose(["scenario=rotaton"])


def test_a_sweep_over_scenarios_runs_exactly_those_one_folder_each(tmp_path):
    sweep_dir = tmp_path / "designs"
    designs = "scenario=baseline,hardened_operator,rotation"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "-m", designs, *SMALL, "figures=false", "progress=false",
         f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folders = {p.name for p in sweep_dir.iterdir() if p.is_dir()}
    # Named by the run's overrides, sorted: the scenario's name, not the values it sets.
    name = "figures=False,population.n_agents=30,scenario={},steps=10".format
    assert folders == {name("baseline"), name("hardened_operator"), name("rotation")}
    assert len(json.loads((sweep_dir / PLAN).read_text())["runs"]) == 3
    manifests = {
        name: json.loads((sweep_dir / name / "manifest.json").read_text()) for name in folders
    }
    config = {folder: m["config"] for folder, m in manifests.items()}
    assert config[name("rotation")]["interventions"]["rotation"] is True
    assert config[name("hardened_operator")]["pipeline"]["shutdown_mechanism"] == "kill_switch"
    assert config[name("baseline")]["interventions"]["rotation"] is False
    # Common random numbers: the three designs run on one seed.
    assert {m["seed"] for m in manifests.values()} == {derive_seed(0, 0)}
