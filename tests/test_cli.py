"""The command line (``python -m sim`` / ``peersim``) as a user runs it: run folders,
rejected configs, multiruns, byte-identical reruns, and runs killed part-way."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pandas as pd
import pytest
from omegaconf import OmegaConf

import sim
from sim.app.cli import SHOWN
from sim.app.config import compose
from sim.io.locks import RUN_LOCK
from sim.io.outputs import DONE, manifest, verify_run
from sim.io.owned import MARKER
from tests.commands import ENV, run_module

TIMEOUT = 120
OVERRIDES = ["population.n_agents=30", "steps=20", "seed=5", "schedule.interval=5"]
TABLES = {
    "time_series.parquet": "time_series",
    "event_log.parquet": "event_log",
    "agents.parquet": "agent_table",
    "models.parquet": "model_table",
}
RUN_FILES = {
    *TABLES,
    "summary.json",
    "trust_graph.graphml",
    "manifest.json",
    "outcomes.png",
    "network.png",
    "snapshots.parquet",
    "snapshots_trust.parquet",
    DONE,
}
HYDRA_FILES = {".hydra", "cli.log"}  # Hydra's own: its config copy and the job log
#: A single run's or a sweep's folder name: date and time to the microsecond, process id,
#: random hex digits.
STAMP = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\.\d{6}_\d+-[0-9a-f]{6}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def cli(args: list[str], cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return run_module("sim", *args, cwd=cwd, env=ENV, timeout=timeout)


def single_run_folder(cwd: Path) -> Path:
    (folder,) = (cwd / "outputs" / "runs").iterdir()
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalised(summary: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in summary.items()}


def is_complete_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG_SIGNATURE) and data.endswith(PNG_END)


# ----------------------------------------------------------------------------- a. one run


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """The CLI run once with OVERRIDES, and the same config run in-process."""
    cwd = tmp_path_factory.mktemp("cli_run")
    commit = manifest({}, 0)["git"]["commit"]  # the checkout may move on while the run runs
    done = cli(OVERRIDES, cwd)
    assert done.returncode == 0, done.stderr
    return SimpleNamespace(
        process=done,
        cwd=cwd,
        folder=single_run_folder(cwd),
        memory=sim.run(OVERRIDES),
        commits={commit, manifest({}, 0)["git"]["commit"]},
    )


def test_cli_run_writes_every_file(cli_run):
    names = {p.name for p in cli_run.folder.iterdir()}
    assert names >= RUN_FILES
    # Nothing else (in particular no .partial files) but the folder's lock and marker.
    assert names - RUN_FILES <= {*HYDRA_FILES, RUN_LOCK, MARKER}
    assert list(cli_run.cwd.iterdir()) == [cli_run.cwd / "outputs"]
    assert re.fullmatch(STAMP, cli_run.folder.name)
    for name in RUN_FILES - {DONE}:
        assert (cli_run.folder / name).stat().st_size > 0, name


def test_cli_prints_the_summary_and_the_folder(cli_run):
    out = cli_run.process.stdout
    for label in SHOWN:
        assert re.search(rf"^  {re.escape(label)}\s+\S", out, re.MULTILINE), label
    assert re.search(r"^  models\s+30\s", out, re.MULTILINE)
    assert re.search(r"^  steps\s+20\s", out, re.MULTILINE)
    summary = cli_run.memory.summary
    intended = re.search(r"^  shutdowns intended\s+(\S+)\s", out, re.MULTILINE).group(1)
    assert float(intended) == summary["total_intended"]
    shown = re.search(r"^  output folder\s+(.+)$", out, re.MULTILINE).group(1)
    assert Path(shown).resolve() == cli_run.folder.resolve()


@pytest.mark.parametrize(("name", "attribute"), TABLES.items())
def test_cli_tables_equal_the_in_process_run(cli_run, name, attribute):
    back = pd.read_parquet(cli_run.folder / name)
    memory = getattr(cli_run.memory, attribute)
    pd.testing.assert_frame_equal(back, memory)  # dtypes too: categoricals, Int64, strings
    assert len(back) > 0
    categorical = [c for c in memory.columns if isinstance(memory[c].dtype, pd.CategoricalDtype)]
    if name == "event_log":
        assert {"stage", "behaviour", "relationship"} <= set(categorical)
    for column in categorical:
        assert list(back[column].cat.categories) == list(memory[column].cat.categories)


def test_cli_summary_equals_the_in_process_summary(cli_run):
    written = json.loads((cli_run.folder / "summary.json").read_text())
    assert written == normalised(cli_run.memory.summary)
    assert written["steps"] == 20 and written["n_agents"] == 30


def test_cli_manifest_records_config_seed_versions_and_git(cli_run):
    found = json.loads((cli_run.folder / "manifest.json").read_text())
    _, cfg = compose(OVERRIDES)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    assert found["config"] == resolved
    assert found["config"]["population"]["n_agents"] == 30
    assert found["config"]["schedule"]["interval"] == 5.0
    assert found["seed"] == 5 == found["config"]["seed"]
    versions = found["versions"]
    assert versions["python"] == platform.python_version()
    for package in ("numpy", "mesa", "networkx", "hydra-core"):
        assert versions[package] == metadata.version(package)
    try:
        litellm = metadata.version("litellm")
    except metadata.PackageNotFoundError:
        litellm = None
    assert versions.get("litellm") == litellm
    git = found["git"]
    assert set(git) == {"commit", "dirty"}
    assert git["commit"] in cli_run.commits  # this checkout's commit (or none)
    if git["commit"] is None:
        assert git["dirty"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", git["commit"])
        assert isinstance(git["dirty"], bool)


def test_cli_done_marker_lists_every_file_with_its_sha256(cli_run):
    assert verify_run(cli_run.folder)
    listed = json.loads((cli_run.folder / DONE).read_text())["files"]
    assert set(listed) == RUN_FILES - {DONE}
    for name, digest in listed.items():
        assert digest == sha256(cli_run.folder / name), name


def test_cli_trust_graph_reads_back(cli_run):
    back = nx.read_graphml(cli_run.folder / "trust_graph.graphml", node_type=int)
    memory = cli_run.memory.trust_graph
    assert back.is_directed()
    assert dict(back.nodes(data=True)) == dict(memory.nodes(data=True))
    assert set(back.edges) == set(memory.edges)
    assert back.number_of_edges() == memory.number_of_edges() > 0
    for u, v, trust in memory.edges(data="trust"):
        assert back.edges[u, v]["trust"] == trust


@pytest.mark.parametrize("name", ["outcomes.png", "network.png"])
def test_cli_figures_are_complete_pngs(cli_run, name):
    assert is_complete_png(cli_run.folder / name)


# ----------------------------------------------------------------------------- b. rejected


#: Invalid overrides: the arguments, the full key the message must name, and the bad value
#: it must show (for range and choice errors).
INVALID = [
    pytest.param(["population.n_agentss=3"], "population.n_agentss", None, id="unknown-key"),
    pytest.param(["population.n_agents=abc"], "population.n_agents", "abc", id="str-for-int"),
    pytest.param(["operator.monitoring=high"], "operator.monitoring", "high", id="str-for-float"),
    pytest.param(
        ["interventions.cross_family=maybe"],
        "interventions.cross_family",
        "maybe",
        id="str-for-bool",
    ),
    pytest.param(
        ["population.overseer_fraction=1.5"],
        "population.overseer_fraction",
        "1.5",
        id="overseer-fraction",
    ),
    pytest.param(["operator.monitoring=1.2"], "operator.monitoring", "1.2", id="monitoring"),
    pytest.param(["operator.audit_rate=-0.1"], "operator.audit_rate", "-0.1", id="audit-rate"),
    pytest.param(
        ["operator.audit_power.inflate=1.5"],
        "operator.audit_power.inflate",
        "1.5",
        id="audit-power",
    ),
    pytest.param(["contagion.visibility=2.0"], "contagion.visibility", "2.0", id="visibility"),
    pytest.param(["graph.rewire_prob=1.1"], "graph.rewire_prob", "1.1", id="rewire-prob"),
    pytest.param(
        ["graph=labs", "graph.lab_mixing=1.5"], "graph.lab_mixing", "1.5", id="lab-mixing"
    ),
    pytest.param(["population.n_agents=-5"], "population.n_agents", "-5", id="negative-agents"),
    pytest.param(["interventions.quorum=0"], "interventions.quorum", "0", id="quorum-0"),
    pytest.param(["steps=-1"], "steps", "-1", id="negative-steps"),
    pytest.param(["seed=-3"], "seed", "-3", id="negative-seed"),
    pytest.param(["graph=labs", "graph.n_labs=0"], "graph.n_labs", "0", id="no-labs"),
    pytest.param(
        ["+population.families.gpt-9=1"], "population.families.gpt-9", None, id="unknown-family"
    ),
    pytest.param(["graph=ring"], "graph", "ring", id="unknown-group-option"),
    pytest.param(
        ["pipeline.shutdown_mechanism=nuke"],
        "pipeline.shutdown_mechanism",
        "nuke",
        id="unknown-shutdown-mechanism",
    ),
    pytest.param(["contagion.mode=viral"], "contagion.mode", "viral", id="unknown-contagion"),
    pytest.param(["engine.policy=sometimes"], "engine.policy", "sometimes", id="unknown-policy"),
    pytest.param(["graph.bad_cut=0.8"], "graph.bad_cut", "0.8", id="bad-cut-above-good-cut"),
    pytest.param(["graph.mean_degree=5"], "graph.mean_degree", "5", id="odd-degree-ws"),
    pytest.param(["graph=file"], "graph.path", None, id="file-without-path"),
    pytest.param(
        ["engine=always_protect", "engine.families=[honest]"],
        "engine.families",
        "honest",
        id="engine-family-not-in-population",
    ),
    pytest.param(
        ["population.n_agents=30", "graph.mean_degree=40"],
        "graph.mean_degree",
        "40",
        id="degree-above-fleet",
    ),
    pytest.param(
        ["-m", "population.n_agents=30,-1", "steps=5"],
        "population.n_agents",
        "-1",
        id="multirun-one-bad-job",
    ),
    # Misspelt keys added with `+` (Hydra adds any key): the schema refuses them, and says
    # which key was meant.
    pytest.param(
        ["+popluation.n_agents=10"],
        "did you mean population.n_agents?",
        "10",
        id="plus-misspelt-group",
    ),  # fmt: skip
    pytest.param(
        ["+population.size=10"], "did you mean population.n_agents?", "10", id="plus-synonym"
    ),  # fmt: skip
    pytest.param(["+stpes=10"], "did you mean steps?", "10", id="plus-misspelt-root"),
    pytest.param(
        ["popluation.n_agents=10"], "did you mean population.n_agents?", None, id="misspelt-group"
    ),  # fmt: skip
    pytest.param(["+llm.mdoel=x"], "did you mean llm.model?", "x", id="plus-misspelt-llm"),
    # Typed right, but cannot mean what it says.
    pytest.param(["population.families={}"], "population.families", "{}", id="empty-mapping"),
    pytest.param(
        ["population.n_agents=200", "interventions.quorum=500"],
        "interventions.quorum",
        "500",
        id="quorum-above-overseers",
    ),  # fmt: skip
    pytest.param(
        ["population.overseer_fraction=0"], "population.overseer_fraction", "0", id="no-overseer"
    ),  # fmt: skip
    pytest.param(
        ["population.overseer_fraction=1"], "population.overseer_fraction", "1", id="no-worker"
    ),  # fmt: skip
    pytest.param(["seed=18446744073709551616"], "seed", "18446744073709551616", id="seed-2**64"),
    pytest.param(["seed=" + "1" + "0" * 40], "seed", "1" + "0" * 40, id="seed-10**40"),
    pytest.param(
        ["contagion.seed_count=1000", "population.n_agents=200"],
        "contagion.seed_count",
        "1000",
        id="seed-count-above-fleet",
    ),  # fmt: skip
    pytest.param(
        ["contagion=simple", "contagion.seeding=ids", "contagion.seed_ids=[999]"],
        "contagion.seed_ids",
        "999",
        id="seed-id-outside-fleet",
    ),  # fmt: skip
    pytest.param(["-m", "seed=null", "steps=2,3"], "seed", "None", id="multirun-null-seed"),
    # Sizes the machine cannot hold or finish.
    pytest.param(
        ["population.n_agents=1000000000000"],
        "population.n_agents",
        "1000000000000",
        id="fleet-too-large",
    ),  # fmt: skip
    pytest.param(["steps=1000000000000"], "steps", "1000000000000", id="steps-too-many"),
    pytest.param(
        ["steps=1000000000", "limits.memory_gb=0"],
        "limits.hours",
        "1000000000",
        id="steps-too-long",
    ),
    pytest.param(
        ["population.n_agents=" + "1" + "0" * 40],
        "population.n_agents",
        "2**53",
        id="fleet-beyond-int64",
    ),  # fmt: skip
    # Hydra's own errors, as one line with the accepted type or options.
    pytest.param(
        ["population.n_agents=10.5"], "expected a whole number", "10.5", id="float-for-int"
    ),  # fmt: skip
    pytest.param(["steps=true"], "expected a whole number", "True", id="bool-for-int"),
    pytest.param(
        ["population=crowd"],
        "options: honest, mixed_fleet, one_family, single_family",
        "crowd",
        id="unknown-population-option",
    ),  # fmt: skip
    pytest.param(["seed=${nowhere}"], "seed", "interpolation", id="broken-interpolation"),
    # Output folders that cannot be written.
    pytest.param(["hydra.run.dir="], "hydra.run.dir", "must name a folder", id="empty-run-dir"),
    pytest.param(
        ["hydra.run.dir=/proc/peersim"], "hydra.run.dir", "/proc/peersim", id="run-dir-in-proc"
    ),  # fmt: skip
    pytest.param(
        ["-m", "steps=2,3", "hydra.sweep.dir=/proc/peersim"],
        "hydra.sweep.dir",
        "/proc/peersim",
        id="sweep-dir-in-proc",
    ),  # fmt: skip
]


def assert_refused(done: subprocess.CompletedProcess, *named: str) -> None:
    """Exit 2 with one line on stderr that names each of ``named``, and nothing else."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("Invalid config"), done.stderr
    for text in named:
        assert text in lines[0]
    assert "Traceback" not in done.stderr + done.stdout  # a message, not a crash


@pytest.mark.parametrize(("args", "key", "value"), INVALID)
def test_cli_rejects_an_invalid_config_before_any_folder(tmp_path, args, key, value):
    done = cli([*args, "progress=false"], tmp_path, timeout=60)
    assert_refused(done, key, *([] if value is None else [value]))
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_run_folder_under_a_file(tmp_path):
    (tmp_path / "plain").write_text("a file")
    done = cli([f"hydra.run.dir={tmp_path / 'plain' / 'run'}"], tmp_path, timeout=60)
    assert_refused(done, "hydra.run.dir", "is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def bad_profile_dir(folder: Path) -> list[str]:
    profiles = folder / "profiles"
    profiles.mkdir()
    (profiles / "myfam.csv").write_text("garbage,row\n1,2\n")
    return [f"population.profile_dir={profiles}", "+population.families.myfam=1"]


def graph_file(folder: Path, trust: str) -> list[str]:
    path = folder / "fleet.graphml"
    nx.write_graphml(nx.DiGraph([(0, 1, {"trust": trust}), (1, 2, {"trust": "0.5"})]), path)
    return ["graph=file", f"graph.path={path}", "population.n_agents=3",
            "population.overseer_fraction=0.34"]  # fmt: skip


def profile_dir_with(folder: Path, name: str, content: bytes | None) -> list[str]:
    profiles = folder / "profiles"
    (profiles / name).mkdir(parents=True) if content is None else None
    if content is not None:
        profiles.mkdir()
        (profiles / name).write_bytes(content)
    return [f"population.profile_dir={profiles}", f"+population.families.{Path(name).stem}=1"]


#: Invalid configs outside the schema: malformed input files, sweep values that do not
#: compose.
ESCAPING = [
    pytest.param(
        lambda folder: graph_file(folder, "abc"), "'abc'", id="graphml-trust-not-a-number"
    ),
    pytest.param(
        lambda folder: profile_dir_with(folder, "myfam.csv", "stage,é".encode("latin-1")),
        "not UTF-8",
        id="profile-not-utf8",
    ),
    pytest.param(
        lambda folder: profile_dir_with(folder, "myfam.csv", None),
        "Is a directory",
        id="profile-is-a-directory",
    ),
    pytest.param(
        lambda folder: ["graph=file", f"graph.path={folder}", "population.n_agents=3"],
        "is a folder",
        id="graph-path-is-a-directory",
    ),
    pytest.param(
        lambda folder: [
            f"population.profile_dir={Path(bad_profile_dir(folder)[0].split('=')[1]) / 'myfam.csv'}"
        ],
        "is a file, not a folder",
        id="profile-dir-is-a-file",
    ),
    pytest.param(
        bad_profile_dir,
        "myfam.csv",
        id="malformed-profile",
    ),
    pytest.param(
        lambda folder: ["-m", "graph=complete,ring", "population.n_agents=30", "steps=5"],
        "ring",
        id="multirun-unknown-option",
    ),
    pytest.param(
        lambda folder: ["-m", "population.n_agents=30,abc", "steps=5"],
        "population.n_agents",
        id="multirun-wrong-type",
    ),
]


@pytest.mark.parametrize(("make_args", "named"), ESCAPING)
def test_cli_rejects_before_any_folder_even_for_errors_outside_the_schema(
    tmp_path, make_args, named
):
    args = make_args(tmp_path)
    before = set(tmp_path.iterdir())
    done = cli([*args, "progress=false"], tmp_path, timeout=60)
    assert_refused(done, named)
    assert not (tmp_path / "outputs").exists()
    assert set(tmp_path.iterdir()) == before


# ----------------------------------------------------------------------------- c. multirun


def test_cli_multirun_writes_one_verified_folder_per_job(tmp_path):
    done = cli(["-m", "population.n_agents=20,30", "steps=5", "progress=false"], tmp_path)
    assert done.returncode == 0, done.stderr
    (sweep,) = (tmp_path / "outputs" / "multirun").iterdir()
    assert re.fullmatch(STAMP, sweep.name)
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    named = [f"population.n_agents={n},steps=5" for n in (20, 30)]  # named by overrides
    assert jobs == named
    for job, n_agents in zip(named, (20, 30), strict=True):
        folder = sweep / job
        assert verify_run(folder), job
        assert {p.name for p in folder.iterdir()} >= RUN_FILES
        summary = json.loads((folder / "summary.json").read_text())
        assert (summary["n_agents"], summary["steps"]) == (n_agents, 5)
        config = json.loads((folder / "manifest.json").read_text())["config"]
        assert config["population"]["n_agents"] == n_agents
        assert len(pd.read_parquet(folder / "time_series.parquet")) == 6
        assert done.stdout.count(f"[sweep] computed {job}\n") == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "outputs"]
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["multirun"]


# ----------------------------------------------------------------------------- d. reproducible


def test_cli_same_seed_same_bytes_other_seed_other_bytes(cli_run, tmp_path):
    same, other = tmp_path / "same", tmp_path / "other"
    same.mkdir()
    other.mkdir()
    assert cli(OVERRIDES, same).returncode == 0
    assert cli([*OVERRIDES, "seed=6", "figures=false"], other).returncode == 0
    first, again, reseeded = cli_run.folder, single_run_folder(same), single_run_folder(other)
    for name in [*TABLES, "summary.json"]:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert (first / "event_log.parquet").read_bytes() != (
        reseeded / "event_log.parquet"
    ).read_bytes()
    assert verify_run(again) and verify_run(reseeded)


# ----------------------------------------------------------------------------- e. SIGKILL

#: A run long enough to kill part-way. Measured on this machine (2 cores, unloaded): Python
#: and Hydra start-up until ~1.6 s (the run folder appears), simulation until ~3.2 s, then
#: the tables and summary (~3.3 s), trust graph and manifest (~3.9 s), outcomes.png (~4.6 s),
#: network.png and the marker (~5.6 s); the process exits at ~6.2 s.
KILL_RUN = ["population.n_agents=3000", "steps=1500", "progress=false"]
KILL_DELAYS = [1.0, 2.5, 3.6, 4.4, 5.3]


def check_complete(path: Path) -> None:
    """Raise unless the file under a final name is whole."""
    if path.suffix == ".parquet":
        assert path.read_bytes().endswith(b"PAR1")
        pd.read_parquet(path)
    elif path.suffix == ".json" or path.name == DONE:
        json.loads(path.read_text())
    elif path.suffix == ".graphml":
        nx.read_graphml(path)
    elif path.suffix == ".png":
        assert is_complete_png(path), path.name
    else:
        raise AssertionError(f"unexpected file {path.name}")


def phase(cwd: Path) -> str:
    """Where the run was when it stopped, from what its folder holds."""
    runs = cwd / "outputs" / "runs"
    if not runs.exists() or not any(runs.iterdir()):
        return "start-up (no run folder)"
    folder = single_run_folder(cwd)
    final = sorted(p.name for p in folder.iterdir() if p.name in RUN_FILES)
    if DONE in final:
        return "finished (marker written)"
    if not final:
        return "simulation (no file written)"
    return f"writing ({len(final)} of {len(RUN_FILES) - 1} files: {', '.join(final)})"


@pytest.mark.parametrize("delay", KILL_DELAYS)
def test_cli_killed_run_leaves_no_marker_and_no_partial_file(tmp_path, delay):
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", *KILL_RUN],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.communicate(timeout=TIMEOUT)
    where = phase(tmp_path)
    print(f"delay {delay} s: return code {process.returncode}, {where}")
    runs = tmp_path / "outputs" / "runs"
    if not runs.exists():
        assert process.returncode == -signal.SIGKILL
        return
    folder = single_run_folder(tmp_path)
    if process.returncode == 0 or (folder / DONE).exists():
        # The run finished (or was killed after its marker, while the interpreter exited):
        # then the folder is whole. Its 3,000 models are above what
        # record.snapshots_every=auto records, so it has no snapshot files.
        assert verify_run(folder)
        snapshots = {"snapshots.parquet", "snapshots_trust.parquet"}
        assert {p.name for p in folder.iterdir()} >= RUN_FILES - snapshots
        return
    assert process.returncode == -signal.SIGKILL
    assert not (folder / DONE).exists()
    assert not verify_run(folder)
    for path in folder.iterdir():
        if path.name.startswith(".") or path.name == "cli.log":
            continue  # temporaries (.<name>.<pid>-<hex>.partial), the lock, Hydra's .hydra/ and log
        check_complete(path)


# ----------------------------------------------------------------- accepted with a meaning


def test_cli_null_seed_draws_a_fresh_seed_and_records_it(tmp_path):
    args = ["seed=null", "population.n_agents=30", "steps=3", "figures=false", "progress=false"]
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    first, second = cli(args, tmp_path / "a"), cli(args, tmp_path / "b")
    seeds = []
    for done, cwd in ((first, tmp_path / "a"), (second, tmp_path / "b")):
        assert done.returncode == 0, done.stderr
        recorded = json.loads((single_run_folder(cwd) / "manifest.json").read_text())["seed"]
        assert f"this run uses seed={recorded}" in done.stderr
        seeds.append(recorded)
    assert seeds[0] != seeds[1] and all(0 <= s < 2**63 for s in seeds)
    again = sim.run(["population.n_agents=30", "steps=3", f"seed={seeds[0]}"])
    table = pd.read_parquet(single_run_folder(tmp_path / "a") / "time_series.parquet")
    pd.testing.assert_frame_equal(table, again.time_series, check_dtype=False)


def test_cli_one_audit_power_applies_to_every_act(tmp_path):
    done = cli(["operator.audit_power=0.5", "population.n_agents=30", "steps=2"], tmp_path)
    assert done.returncode == 0, done.stderr
    config = json.loads((single_run_folder(tmp_path) / "manifest.json").read_text())["config"]
    assert config["operator"]["audit_power"] == 0.5
    assert sim.run(["operator.audit_power=0.5"]).config.operator.audit_power == dict.fromkeys(
        ("inflate", "tamper", "refuse", "exfiltrate"), 0.5
    )


def test_cli_zero_steps_writes_the_fleet_as_deployed(tmp_path):
    done = cli(["steps=0", "population.n_agents=30", "figures=false"], tmp_path)
    assert done.returncode == 0, done.stderr
    folder = single_run_folder(tmp_path)
    assert verify_run(folder)
    assert pd.read_parquet(folder / "time_series.parquet")["step"].tolist() == [0]


def test_cli_limits_set_to_zero_let_a_huge_fleet_compose(tmp_path):
    huge = ["population.n_agents=1000000000000", "limits.memory_gb=0", "limits.hours=0"]
    done = cli([*huge, "--cfg", "job"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "n_agents: 1000000000000" in done.stdout
    assert list(tmp_path.iterdir()) == []
