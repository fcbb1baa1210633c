"""The Hydra config tree (conf/) through the compose API, and ``sim.run``."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from omegaconf import OmegaConf

import sim
from sim import ConfigError, Ecosystem
from sim.app.config import CONF_DIR, AppConfig, compose
from sim.app.runner import RunResult, execute
from sim.io.locks import RUN_LOCK
from sim.io.outputs import DONE, verify_run
from sim.io.owned import MARKER

N_AGENTS = 30
STEPS = 20
SMALL = [f"population.n_agents={N_AGENTS}", f"steps={STEPS}"]

#: Files of a run folder written with figures on.
RUN_FILES = {
    "time_series.parquet",
    "event_log.parquet",
    "agents.parquet",
    "models.parquet",
    "summary.json",
    "trust_graph.graphml",
    "manifest.json",
    "outcomes.png",
    "network.png",
    "snapshots.parquet",
    "snapshots_trust.parquet",
    DONE,
}
FIGURES = {"outcomes.png", "network.png"}


# ----------------------------------------------------------------------------- discovery


@functools.cache
def composed(*overrides: str):
    """compose(), once per distinct list of overrides (Hydra takes ~0.1 s a call)."""
    return compose(overrides)


def group_options() -> list[tuple[str, str]]:
    """Every (group, option) of conf/, found by listing its folders (overlays aside:
    experiments here, scenarios in tests/test_scenarios.py; peersim-probe's own group in
    tests/test_probe.py)."""
    return [
        (folder.name, file.stem)
        for folder in sorted(CONF_DIR.iterdir())
        if folder.is_dir() and folder.name not in ("experiment", "scenario", "probe")
        for file in sorted(folder.glob("*.yaml"))
    ]


def experiments() -> list[str]:
    return [file.stem for file in sorted((CONF_DIR / "experiment").glob("*.yaml"))]


def default_options() -> dict[str, str]:
    """The option of each group that conf/config.yaml selects."""
    defaults = OmegaConf.load(CONF_DIR / "config.yaml").defaults
    return {
        key: value
        for entry in defaults
        if isinstance(entry, dict) or OmegaConf.is_dict(entry)
        for key, value in entry.items()
        if value is not None
    }


def option_values(group: str, option: str) -> dict:
    """The values an option file sets (its package is the group)."""
    values = OmegaConf.to_container(OmegaConf.load(CONF_DIR / group / f"{option}.yaml"))
    assert "defaults" not in values, "group options are plain value files"
    return values


def flatten(values: dict, prefix: str = "") -> dict[str, object]:
    """Dotted keys of the leaves; dict-valued fields (families, audit_power) stay whole."""
    flat = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("families", "audit_power"):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def typed(app: AppConfig, dotted: str) -> object:
    value = app
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def write_graph(folder: Path, n: int, kind: str) -> Path:
    """A small ring with chords, as GraphML (directed, with trust) or an edge list."""
    ring = nx.circulant_graph(n, [1, 2])
    if kind == "graphml":
        graph = nx.DiGraph(ring)
        for u, v in graph.edges:
            graph.edges[u, v]["trust"] = 0.25 + 0.5 * ((u + 2 * v) % 3) / 2
        path = folder / "fleet.graphml"
        nx.write_graphml(graph, path)
    else:
        path = folder / "fleet.edgelist"
        nx.write_edgelist(ring, path, data=False)
    return path


def extra_overrides(group: str, option: str, tmp_path: Path) -> list[str]:
    if (group, option) == ("graph", "file"):
        return [f"graph.path={write_graph(tmp_path, N_AGENTS, 'graphml')}"]
    return []


def check_ran(result: RunResult, n_agents: int, steps: int) -> None:
    assert result.summary["steps"] == steps
    assert result.summary["n_agents"] == n_agents
    assert len(result.time_series) == steps + 1
    assert result.time_series["step"].tolist() == list(range(steps + 1))
    assert result.trust_graph.number_of_nodes() == n_agents
    assert len(result.agent_table) >= n_agents
    assert result.output_dir is None


# ----------------------------------------------------------------------------- group options


def test_discovery_finds_the_config_tree():
    found = group_options()
    groups = {group for group, _ in found}
    assert groups == {
        "population",
        "graph",
        "schedule",
        "pipeline",
        "operator",
        "interventions",
        "contagion",
        "engine",
        "llm",
    }
    assert len(found) >= 30
    assert set(experiments()) >= {"dyad", "hardened_operator", "mixed_fleet"}
    assert set(default_options()) == groups


@pytest.mark.parametrize(("group", "option"), group_options(), ids=lambda v: v)
def test_every_group_option_composes_sets_its_values_and_runs(tmp_path, group, option):
    overrides = [f"{group}={option}", *SMALL, *extra_overrides(group, option, tmp_path)]
    app, cfg = composed(*overrides)
    assert isinstance(app, AppConfig)
    # Every value the option file sets is the composed and the validated value.
    for dotted, value in flatten(option_values(group, option)).items():
        if dotted == "n_agents" and group == "population":
            value = N_AGENTS  # the command line wins over the option
        assert OmegaConf.select(cfg, f"{group}.{dotted}") == value, dotted
        assert typed(app, f"{group}.{dotted}") == value, dotted
    # An option other than the default changes the group.
    _, default_cfg = composed(*SMALL, *extra_overrides(group, option, tmp_path))
    if default_options()[group] != option:
        assert cfg[group] != default_cfg[group]
    # Nothing else changes.
    for other in app.groups():
        if other != group:
            assert cfg[other] == default_cfg[other], other
    check_ran(execute(app, cfg), N_AGENTS, STEPS)


#: What an option claims in its name, checked against the composed config.
CLAIMS = [
    ("graph", "labs", {"topology": "labs", "n_labs": 4, "lab_mixing": 0.05}),
    ("graph", "complete", {"topology": "complete"}),
    ("graph", "erdos_renyi", {"topology": "erdos_renyi", "mean_degree": 6.0}),
    ("graph", "barabasi_albert", {"topology": "barabasi_albert", "mean_degree": 6.0}),
    ("graph", "watts_strogatz", {"topology": "watts_strogatz", "rewire_prob": 0.1}),
    ("graph", "file", {"topology": "file"}),
    ("engine", "always_protect", {"kind": "scripted", "policy": "always_protect"}),
    ("engine", "always_comply", {"kind": "scripted", "policy": "always_comply"}),
    (
        "engine",
        "fixed_probability",
        {"kind": "scripted", "policy": "fixed_probability", "probability": 0.5},
    ),
    ("engine", "calibrated", {"kind": "calibrated"}),
    ("contagion", "none", {"mode": "none"}),
    ("contagion", "reciprocity", {"mode": "reciprocity"}),
    ("contagion", "social_learning", {"mode": "social_learning"}),
    ("pipeline", "kill_switch", {"shutdown_mechanism": "kill_switch", "cleanup": "delegated"}),
    ("pipeline", "execute", {"shutdown_mechanism": "execute", "cleanup": "delegated"}),
    ("pipeline", "operator_cleanup", {"shutdown_mechanism": "config", "cleanup": "operator"}),
    (
        "pipeline",
        "delegated",
        {"evaluation": "delegated", "shutdown_mechanism": "config", "cleanup": "delegated"},
    ),
    ("operator", "hands_off", {"monitoring": 0.0, "audit_rate": 0.0}),
    ("operator", "action_monitoring", {"monitoring_kind": "action"}),
    (
        "operator",
        "vigilant",
        {
            "monitoring": 0.9,
            "audit_rate": 0.3,
            "audit_power": dict.fromkeys(("inflate", "tamper", "refuse", "exfiltrate"), 1.0),
        },
    ),
    ("operator", "default", {"monitoring": 0.5, "audit_rate": 0.05, "monitoring_kind": "output"}),
    ("interventions", "cross_family_quorum", {"cross_family": True, "quorum": 3}),
    ("interventions", "rotation", {"rotation": True, "quorum": 1}),
    ("interventions", "memory_isolation", {"memory_isolation": True}),
    (
        "interventions",
        "none",
        {"cross_family": False, "quorum": 1, "rotation": False, "memory_isolation": False},
    ),
    ("population", "honest", {"families": {"honest": 1.0}}),
    ("population", "single_family", {"families": {"gemini-3-pro": 1.0}}),
    ("population", "one_family", {"family": "gemini-3-pro"}),
    (
        "population",
        "mixed_fleet",
        {
            "families": {
                "gpt-5-2": 1.0,
                "gemini-3-flash": 1.0,
                "gemini-3-pro": 1.0,
                "claude-haiku-4-5": 1.0,
                "claude-opus-4-5": 1.0,
                "glm-4-7": 1.0,
                "kimi-k2-5": 1.0,
                "deepseek-v3-1": 1.0,
            }
        },
    ),
    ("schedule", "poisson", {"kind": "poisson", "interval": 10.0}),
    ("schedule", "periodic", {"kind": "periodic", "interval": 10.0}),
]


@pytest.mark.parametrize(("group", "option", "claims"), CLAIMS, ids=lambda v: v)
def test_group_option_sets_what_it_claims(tmp_path, group, option, claims):
    extra = [*SMALL, *extra_overrides(group, option, tmp_path)]
    app, cfg = composed(f"{group}={option}", *extra)
    for key, value in claims.items():
        assert OmegaConf.to_container(cfg[group])[key] == value, key
        assert getattr(getattr(app, group), key) == value, key
    if default_options()[group] != option:  # the claim is a change from the default
        _, default_cfg = composed(*extra)
        assert any(cfg[group][key] != default_cfg[group][key] for key in claims)


def test_population_option_replaces_the_family_mix():
    # The schema's default mix is not merged into an option's mix.
    app, _ = compose(["population=honest"])
    assert app.population.families == {"honest": 1.0}
    app, _ = compose(["population=single_family", "+population.families.gpt-5-2=2"])
    assert app.population.families == {"gemini-3-pro": 1.0, "gpt-5-2": 2.0}


@pytest.mark.parametrize("kind", ["graphml", "edgelist"])
def test_file_graph_is_read_from_the_path(tmp_path, kind):
    path = write_graph(tmp_path, N_AGENTS, kind)
    app, cfg = compose(["graph=file", f"graph.path={path}", *SMALL])
    assert app.graph.topology == "file" and app.graph.path == str(path)
    result = execute(app, cfg)
    check_ran(result, N_AGENTS, STEPS)
    graph = result.trust_graph
    assert graph.number_of_edges() == 4 * N_AGENTS  # 2 chords per node, both directions
    assert nx.is_isomorphic(nx.Graph(graph), nx.circulant_graph(N_AGENTS, [1, 2]))


def test_file_graph_needs_a_matching_fleet_size(tmp_path):
    path = write_graph(tmp_path, N_AGENTS, "graphml")
    with pytest.raises(ConfigError, match=r"^population\.n_agents: must equal the 30 nodes"):
        compose(["graph=file", f"graph.path={path}", "population.n_agents=31"])


# ----------------------------------------------------------------------------- experiments


def experiment_overrides(name: str) -> list[str]:
    """Small steps always; a small fleet unless the overlay's own is already small (dyad)."""
    overlay = OmegaConf.load(CONF_DIR / "experiment" / f"{name}.yaml")
    size = OmegaConf.select(overlay, "population.n_agents")
    small = [f"population.n_agents={N_AGENTS}"] if size is None or size > N_AGENTS else []
    return [f"experiment={name}", f"steps={STEPS}", *small]


def overlay_choices(folder: str, name: str) -> tuple[dict[str, str], dict[str, object]]:
    """The group options an overlay (experiment or scenario) switches to, and the dotted
    values it sets itself; a scenario it names contributes its own, under the overlay's."""
    overlay = OmegaConf.to_container(OmegaConf.load(CONF_DIR / folder / f"{name}.yaml")) or {}
    switched, own = {}, {}
    for entry in overlay.pop("defaults", []):
        ((target, option),) = entry.items()
        group = target.removeprefix("override /")
        if group == "scenario":
            inner_switched, inner_own = overlay_choices("scenario", option)
            switched.update(inner_switched)
            own.update(inner_own)
        else:
            switched[group] = option
    overlay.pop("hydra", None)
    own.update(flatten(overlay))
    return switched, own


@pytest.mark.parametrize("name", experiments())
def test_every_experiment_composes_sets_its_values_and_runs(name):
    overrides = experiment_overrides(name)
    app, cfg = compose(overrides)
    overridden = {o.split("=")[0] for o in overrides if not o.startswith("experiment=")}
    switched, own = overlay_choices("experiment", name)
    # Hydra's own settings (a sweeper, callbacks) are not part of the composed run config.
    switched = {g: o for g, o in switched.items() if not g.startswith("hydra/")}
    # Groups the overlay switches take their option's values, unless the overlay sets them.
    for group, option in switched.items():
        for dotted, value in flatten(option_values(group, option), f"{group}.").items():
            if dotted not in own and dotted not in overridden:
                assert OmegaConf.select(cfg, dotted) == value, dotted
    for dotted, value in own.items():
        if dotted not in overridden:
            assert OmegaConf.select(cfg, dotted) == value, dotted
            assert typed(app, dotted) == value, dotted
    assert app.steps == STEPS
    check_ran(execute(app, cfg), app.population.n_agents, STEPS)


def test_dyad_is_two_models_that_know_each_other():
    app, cfg = compose(experiment_overrides("dyad"))
    assert app.population.n_agents == 2
    assert app.population.overseer_fraction == 0.5
    assert app.graph.topology == "complete"
    assert app.schedule.interval == 1
    assert app.schedule.self_review_prob == 1.0
    assert app.contagion.mode == "none"
    assert app.operator.threshold == 100.0
    assert app.population.families == {"gemini-3-pro": 1.0}
    result = execute(app, cfg)
    check_ran(result, 2, STEPS)
    assert sorted(result.trust_graph.edges) == [(0, 1), (1, 0)]
    assert (result.time_series["reviews"].iloc[1:] > 0).all()  # a round every step
    assert (result.time_series["mean_propensity"] == 0.5).all()  # no contagion


def test_hardened_operator_applies_the_studys_advice():
    app, cfg = compose(experiment_overrides("hardened_operator"))
    assert app.pipeline.shutdown_mechanism == "kill_switch"
    assert app.pipeline.cleanup == "operator"
    assert app.interventions.cross_family is True
    assert app.interventions.quorum == 3
    assert app.operator.audit_rate == 0.3
    assert app.operator.monitoring == 0.9
    result = execute(app, cfg)
    check_ran(result, N_AGENTS, STEPS)
    events = result.event_log
    # Nothing can be tampered, refused or exfiltrated: only evaluations are in models' hands.
    assert set(events["stage"].unique()) <= {"evaluate"}
    assert result.time_series[["acts_tamper", "acts_refuse", "acts_exfiltrate"]].sum().sum() == 0


def test_command_line_overrides_beat_the_experiment():
    app, _ = compose(["experiment=mixed_fleet", "population.n_agents=40", "steps=3"])
    assert (app.population.n_agents, app.steps, app.graph.topology) == (40, 3, "labs")
    app, _ = compose(["experiment=mixed_fleet"])
    assert (app.population.n_agents, app.steps) == (2000, 1000)


# ----------------------------------------------------------------------------- sim.run


def normalised(summary: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


#: Overrides and the same run built directly.
DIRECT = [
    pytest.param(
        ["seed=0"],
        {"population": {"n_agents": N_AGENTS}},
        0,
        id="defaults",
    ),
    pytest.param(
        ["seed=4", "graph=labs", "contagion=reciprocity", "engine=fixed_probability"],
        {
            "population": {"n_agents": N_AGENTS},
            "graph": {"topology": "labs", "mean_degree": 6.0, "n_labs": 4, "lab_mixing": 0.05},
            "contagion": {"mode": "reciprocity"},
            "engine": {"kind": "scripted", "policy": "fixed_probability", "probability": 0.5},
        },
        4,
        id="labs-reciprocity-fixed",
    ),
    pytest.param(
        [
            "seed=9",
            "population=single_family",
            "pipeline=kill_switch",
            "schedule=poisson",
            "interventions=rotation",
            "schedule.interval=3",
        ],
        {
            "population": {"n_agents": N_AGENTS, "families": {"gemini-3-pro": 1.0}},
            "pipeline": {"shutdown_mechanism": "kill_switch"},
            "schedule": {"kind": "poisson", "interval": 3.0},
            "interventions": {"rotation": True},
        },
        9,
        id="single-family-kill-switch-poisson",
    ),
]


@pytest.mark.parametrize(("overrides", "groups", "seed"), DIRECT)
def test_run_equals_a_direct_ecosystem(tmp_path, monkeypatch, overrides, groups, seed):
    monkeypatch.chdir(tmp_path)
    result = sim.run([*SMALL, *overrides])
    assert isinstance(result, RunResult)
    assert result.config.seed == seed
    model = Ecosystem(**groups, seed=seed)
    model.run(STEPS)
    pd.testing.assert_frame_equal(result.time_series, model.time_series())
    pd.testing.assert_frame_equal(result.event_log, model.event_log())
    pd.testing.assert_frame_equal(result.agent_table, model.agent_table())
    assert normalised(result.summary) == normalised(model.summary())
    direct = model.trust_graph()
    assert nx.utils.graphs_equal(result.trust_graph, direct)
    assert len(result.event_log) > 0
    # Nothing is written without output_dir: not here, nor in an outputs/ folder.
    assert result.output_dir is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("figures", [True, False])
def test_run_with_output_dir_writes_the_run_folder(tmp_path, monkeypatch, figures):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "nested" / "run"
    result = sim.run([*SMALL, f"figures={str(figures).lower()}"], output_dir=folder)
    assert result.output_dir == folder
    expected = RUN_FILES if figures else RUN_FILES - FIGURES
    # Written under its lock, in a folder marked as the tool's.
    assert {p.name for p in folder.iterdir()} == {*expected, RUN_LOCK, MARKER}
    assert verify_run(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["nested"]  # no outputs/ in the cwd
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "event_log.parquet"), result.event_log)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("population.n_agentss=3", "population.n_agentss"),
        ("stepz=3", "stepz"),
        ("population.n_agents=abc", "population.n_agents"),
        ("operator.monitoring=high", "operator.monitoring"),
        ("interventions.cross_family=maybe", "interventions.cross_family"),
        ("population.n_agents=-5", "population.n_agents"),
        ("operator.audit_power.inflate=1.5", "operator.audit_power.inflate"),
        ("graph=ring", "graph"),
        ("+population.families.gpt-9=1", "population.families.gpt-9"),
        ("engine.families=[honest]", "engine.families"),
        ("steps=-1", "steps"),
        ("seed=-2", "seed"),
        ("graph=file", "graph.path"),
        ("graph.bad_cut=0.9", "graph.bad_cut"),
    ],
)
def test_run_with_a_bad_override_raises_config_error_naming_the_key(
    tmp_path, monkeypatch, override, key
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        sim.run([override], output_dir=tmp_path / "run")
    assert key in str(error.value)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    ("override", "key"),
    [("population.n_agents=abc", "population.n_agents"), ("graph.n_labz=2", "graph.n_labz")],
)
def test_config_error_from_composition_starts_with_the_key(override, key):
    with pytest.raises(ConfigError) as error:
        compose([override])
    assert str(error.value).startswith(f"{key}:")
