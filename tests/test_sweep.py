"""Sweeps (``python -m sim -m ...``): launchers that agree, seeds shared by designs (common
random numbers), resume after SIGKILL, and failed runs recorded without stopping the others."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.app.naming import folder_name
from sim.app.sweep import FAIL_ENV, clear, derive_seed, parameters
from sim.app.sweep_book import PLAN
from sim.io.locks import LOCKS
from sim.io.outputs import DONE, FAILED, verify_run

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
ENV.pop(FAIL_ENV, None)
TIMEOUT = 180
TINY = ["population.n_agents=30", "steps=5", "figures=false", "progress=false"]


def sweep(args: list[str], sweep_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", "-m", *args, f"hydra.sweep.dir={sweep_dir}"],
        cwd=sweep_dir.parent,
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def run_folders(sweep_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep_dir.iterdir() if p.is_dir()}


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def counts(output: str) -> list[str]:
    """The end-of-sweep count lines (``[sweep] 8/8 done: ...``)."""
    return [line for line in output.splitlines() if re.match(r"\[sweep\] \d+/\d+ done:", line)]


def job_lines(output: str, what: str) -> list[str]:
    """The jobs' lines saying they did ``what`` (computed, skipped). Parallel workers share
    one pipe, so a job's line may land after another process's unterminated output (seen
    once in a suite run under heavy load): a line is found wherever it starts."""
    marker = f"[sweep] {what} "
    return [part for line in output.splitlines() for part in line.split(marker)[1:]]


# ----------------------------------------------------------------------------- seeds


def test_derived_seed_depends_on_base_seed_and_replicate_only():
    base = derive_seed(0, 0)
    # Pinned: the README's rule (sha256 of {"replicate":0,"seed":0}, 8 bytes, mod 2**31).
    digest = hashlib.sha256(b'{"replicate":0,"seed":0}').digest()
    assert base == int.from_bytes(digest[:8], "big") % 2**31
    others = {derive_seed(0, 1), derive_seed(1, 0), derive_seed(1, 1)}
    assert base not in others and len(others) == 3
    assert all(0 <= s < 2**31 for s in [base, *others])
    assert parameters(["b=1", "replicate=3", "a=x", "seed=2"]) == ["a=x", "b=1"]


def test_folder_names_are_single_safe_folders():
    assert folder_name("a=1,b=2") == "a=1,b=2"
    assert folder_name("") == "defaults"
    assert folder_name("graph.path=/tmp/g.graphml") == "graph.path=%2Ftmp%2Fg.graphml"
    assert folder_name("a=%2F") != folder_name("a=/")
    long = folder_name("x=" + "9" * 400)
    assert len(long.encode()) <= 200 and long != folder_name("x=" + "9" * 401)


# ----------------------------------------------------------------------------- launchers

GRID = ["seed=0,1", "operator.audit_rate=0,0.1,0.2", "replicate=0,1", *TINY]
COMPARED = ["summary.json", "time_series.parquet", "event_log.parquet"]


def test_joblib_and_basic_launchers_give_identical_runs(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    basic, joblib = tmp_path / "basic", tmp_path / "joblib"
    done = sweep(GRID, basic)
    assert done.returncode == 0, done.stderr
    done_parallel = sweep(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *GRID], joblib)
    assert done_parallel.returncode == 0, done_parallel.stderr
    assert "Joblib.Parallel" in done_parallel.stdout + done_parallel.stderr
    first, second = run_folders(basic), run_folders(joblib)
    assert len(first) == 12 and first.keys() == second.keys()
    seeds = set()
    for name, folder in first.items():
        assert verify_run(folder) and verify_run(second[name]), name
        for file in COMPARED:
            assert (folder / file).read_bytes() == (second[name] / file).read_bytes(), name
        found = manifest(folder)
        assert found["seed"] == manifest(second[name])["seed"] == found["sweep"]["seed"]
        assert found["config"]["seed"] == found["sweep"]["base_seed"]  # the base, as given
        assert found["seed"] == derive_seed(found["config"]["seed"], found["config"]["replicate"])
        seeds.add(found["seed"])
    assert len(seeds) == 4  # seed x replicate; the audit rates share them
    for output in (done.stdout, done_parallel.stdout):  # every job's line, one count
        assert len(job_lines(output, "computed")) == 12
        assert counts(output) == [
            "[sweep] 12/12 done: 12 computed, 0 skipped (already done), 0 failed, 0 left"
        ]


def test_the_same_run_in_two_sweeps_gets_the_same_seed_and_results(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert sweep(["operator.audit_rate=0,0.1", "replicate=1", *TINY], one).returncode == 0
    # Other values, another order on the command line: job numbers differ.
    assert sweep([*TINY, "replicate=1", "operator.audit_rate=0.1,0.3"], two).returncode == 0
    (shared,) = run_folders(one).keys() & run_folders(two).keys()
    assert "operator.audit_rate=0.1" in shared
    a, b = run_folders(one)[shared], run_folders(two)[shared]
    assert manifest(a)["seed"] == manifest(b)["seed"] != 0
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    seeds = {manifest(f)["seed"] for f in [*run_folders(one).values(), *run_folders(two).values()]}
    assert seeds == {derive_seed(0, 1)}  # every design of replicate 1 shares its seed


def test_designs_with_one_seed_and_replicate_start_from_the_same_fleet_and_graph(tmp_path):
    import networkx as nx

    designs = ["operator.audit_rate=0,0.5", "interventions=none,rotation", "replicate=0,1"]
    done = sweep([*designs, "population.n_agents=40", "steps=0", "figures=false"], tmp_path / "s")
    assert done.returncode == 0, done.stderr

    def start(folder: Path) -> tuple[pd.DataFrame, list]:
        graph = nx.read_graphml(folder / "trust_graph.graphml")
        return pd.read_parquet(folder / "agents.parquet"), sorted(graph.edges(data=True))

    by_replicate: dict[str, list] = {"0": [], "1": []}
    for name, folder in run_folders(tmp_path / "s").items():
        by_replicate[re.search(r"replicate=(\d)", name).group(1)].append(start(folder))
    for runs in by_replicate.values():
        assert len(runs) == 4  # 2 audit rates x 2 intervention designs
        agents, edges = runs[0]
        for other_agents, other_edges in runs[1:]:
            pd.testing.assert_frame_equal(other_agents, agents)
            assert other_edges == edges
    (agents_0, edges_0), (agents_1, edges_1) = by_replicate["0"][0], by_replicate["1"][0]
    assert not agents_0["quality"].equals(agents_1["quality"])
    assert [e[2]["trust"] for e in edges_0] != [e[2]["trust"] for e in edges_1]


def test_a_single_run_keeps_its_seed(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", *TINY, "seed=4", f"hydra.run.dir={tmp_path / 'run'}"],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    found = manifest(tmp_path / "run")
    assert found["seed"] == 4 and "sweep" not in found


# ----------------------------------------------------------------------------- resume

#: Runs of about a second each with figures (2 cores), so the kill lands part-way through the sweep.
KILLED = ["seed=0,1,2,3,4", "population.n_agents=200", "steps=100", "progress=false"]


def check_whole(path: Path) -> None:
    if path.suffix == ".parquet":
        pd.read_parquet(path)
    elif path.suffix == ".json" or path.name == DONE:
        json.loads(path.read_text())
    elif path.suffix == ".png":
        assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), path


def test_a_killed_sweep_resumes_to_exactly_one_valid_result_per_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", "-m", *KILLED, f"hydra.sweep.dir={sweep_dir}"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if sweep_dir.exists() and len(list(sweep_dir.glob(f"*/{DONE}"))) >= 2:
                break
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=TIMEOUT)
    assert process.returncode == -signal.SIGKILL
    before = {p.parent.name for p in sweep_dir.glob(f"*/{DONE}")}
    assert 2 <= len(before) < 5

    done = sweep(KILLED, sweep_dir)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already done (skipped), {5 - len(before)} to run" in done.stdout
    assert counts(done.stdout) == [
        f"[sweep] 5/5 done: {5 - len(before)} computed, {len(before)} skipped (already done), "
        "0 failed, 0 left"
    ]
    assert len(job_lines(done.stdout, "computed")) == 5 - len(before)
    assert len(job_lines(done.stdout, "skipped")) == len(before)
    folders = run_folders(sweep_dir)
    assert len(folders) == 5
    assert {manifest(f)["config"]["seed"] for f in folders.values()} == {0, 1, 2, 3, 4}
    for folder in folders.values():
        assert verify_run(folder), folder.name
        assert not list(folder.glob("*.partial")) and not (folder / FAILED).exists()
        for path in folder.iterdir():
            check_whole(path)
    assert not list(sweep_dir.rglob("*.partial"))
    markers = {name: (f / DONE).stat().st_mtime_ns for name, f in folders.items()}

    started = time.monotonic()
    again = sweep(KILLED, sweep_dir)
    elapsed = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert "5 already done (skipped), 0 to run" in again.stdout
    assert counts(again.stdout) == [
        "[sweep] 5/5 done: 0 computed, 5 skipped (already done), 0 failed, 0 left"
    ]
    assert "output folder" not in again.stdout  # no run executed: no summary printed
    assert {name: (f / DONE).stat().st_mtime_ns for name, f in folders.items()} == markers
    print(f"rerun of a finished 5-run sweep: {elapsed:.1f} s")


def test_clearing_a_run_folder_keeps_hydras_files_and_the_locks(tmp_path):
    kept = {".hydra", "cli.log", *LOCKS}
    removed = {"summary.json", DONE, ".summary.json.123-0badc0de.partial", FAILED}
    (tmp_path / ".hydra").mkdir()
    for name in (kept | removed) - {".hydra"}:
        (tmp_path / name).write_text("x")
    clear(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == kept


# ----------------------------------------------------------------------------- failures


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep_dir = tmp_path / "sweep"
    args = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "operator.audit_rate=0,0.1,0.2"]
    failing = {**ENV, FAIL_ENV: "operator.audit_rate=0.1"}
    done = sweep([*args, *TINY], sweep_dir, env=failing)
    assert done.returncode != 0
    folders = run_folders(sweep_dir)
    assert len(folders) == 3
    (bad,) = [f for name, f in folders.items() if "operator.audit_rate=0.1" in name]
    assert "1 run(s) failed" in done.stderr and str(bad) in done.stderr
    assert counts(done.stdout) == [
        "[sweep] 2/3 done: 2 computed, 0 skipped (already done), 1 failed, 0 left"
    ]
    record = json.loads((bad / FAILED).read_text())
    assert record["exception"] == "RuntimeError"
    assert "Traceback" in record["traceback"] and FAIL_ENV in record["traceback"]
    assert "operator.audit_rate=0.1" in record["overrides"]
    assert not verify_run(bad) and not (bad / DONE).exists()
    for folder in folders.values():
        if folder != bad:
            assert verify_run(folder) and not (folder / FAILED).exists()

    # Break a finished run too: a file that no longer matches its checksum, a partial file.
    (broken,) = [f for name, f in folders.items() if "operator.audit_rate=0.2" in name]
    original = (broken / "summary.json").read_bytes()
    (broken / "summary.json").write_text("{}")
    (broken / ".agents.parquet.partial").write_bytes(b"half")

    # Run again without the failure: the failed and the broken run run again, and only they.
    again = sweep([*args, *TINY], sweep_dir)
    assert again.returncode == 0, again.stderr
    assert "1 already done (skipped), 2 to run" in again.stdout
    assert counts(again.stdout) == [
        "[sweep] 3/3 done: 2 computed, 1 skipped (already done), 0 failed, 0 left"
    ]
    assert verify_run(bad) and not (bad / FAILED).exists()
    assert verify_run(broken) and (broken / "summary.json").read_bytes() == original
    assert not list(sweep_dir.rglob("*.partial"))
    plan = json.loads((sweep_dir / PLAN).read_text())
    assert sorted(plan["runs"]) == sorted(folders) and len(plan["skipped"]) == 1
