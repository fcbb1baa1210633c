"""Nothing the tool did not write is ever deleted or overwritten: foreign folders refused as
run or sweep folders, run folders cleared of the tool's files only, colliding run folders
refused, and ``peersim-collect --out`` kept out of run and sweep folders."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import sim
from sim.app.naming import folder_name
from sim.app.sweep import FAIL_ENV
from sim.io.collect import RUNS_TABLE, TIME_SERIES_TABLE
from sim.io.outputs import DONE, RUN_FILES, verify_run
from sim.io.owned import MARKER
from tests.commands import run_module

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
ENV.pop(FAIL_ENV, None)
TIMEOUT = 180
TINY = ["population.n_agents=20", "steps=3", "progress=false", "figures=false"]


def peersim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_module("sim", *args, cwd=cwd, env=ENV, timeout=TIMEOUT)


def collect_cli(*args: str) -> subprocess.CompletedProcess:
    return run_module("sim.app.collect", *args, env=ENV, timeout=TIMEOUT)


def foreign(folder: Path) -> Path:
    """A folder of files the tool did not write, some named like its outputs."""
    (folder / "sub").mkdir(parents=True)
    (folder / "summary.json").write_text('{"mine": true}\n')
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` and its SHA-256 (``dir`` for folders)."""
    return {
        p.relative_to(folder).as_posix(): "dir"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


def refused(done: subprocess.CompletedProcess, key: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    # A sweep's config errors name the run they were found in.
    pattern = rf"Invalid config( \(in the run with [^)]*\))?: {re.escape(key)}: "
    assert len(lines) == 1 and re.match(pattern, lines[0]), done.stderr
    return lines[0]


# ----------------------------------------------------------------------------- foreign folders


def test_a_foreign_folder_is_refused_as_run_or_sweep_folder_and_left_unchanged(tmp_path):
    folder = foreign(tmp_path / "mine")
    before = snapshot(folder)
    line = refused(peersim(*TINY, f"hydra.run.dir={folder}", cwd=tmp_path), "hydra.run.dir")
    assert f"{folder} holds files peersim did not write (notes.txt, sub/, summary.json)" in line
    line = refused(
        peersim("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={folder}", cwd=tmp_path),
        "hydra.sweep.dir",
    )
    assert str(folder) in line and "did not write" in line
    assert snapshot(folder) == before


def test_a_foreign_run_subfolder_is_refused_before_any_run(tmp_path):
    sweep_dir = tmp_path / "sweep"
    first = peersim("-m", *TINY, "seed=0", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads((sweep_dir / MARKER).read_text())["kind"] == "sweep"
    name = folder_name(",".join(sorted(["figures=False", "population.n_agents=20", "seed=1",
                                        "steps=3"])))  # fmt: skip
    foreign(sweep_dir / name)
    before = snapshot(sweep_dir)
    done = peersim("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    line = refused(done, "hydra.sweep.dir")
    assert f"{sweep_dir / name}, holds files peersim did not write" in line and "seed=1" in line
    assert snapshot(sweep_dir) == before


def test_a_run_folder_is_not_a_sweep_folder(tmp_path):
    run_dir = tmp_path / "run"
    assert peersim(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path).returncode == 0
    assert json.loads((run_dir / MARKER).read_text())["kind"] == "run"
    before = snapshot(run_dir)
    line = refused(
        peersim("-m", *TINY, f"hydra.sweep.dir={run_dir}", cwd=tmp_path), "hydra.sweep.dir"
    )
    assert "is a peersim run folder, not a sweep folder" in line
    assert snapshot(run_dir) == before


# ----------------------------------------------------------------------------- the tool's own


def test_an_unfinished_run_folder_loses_only_the_tools_files(tmp_path):
    sweep_dir = tmp_path / "sweep"
    args = ["-m", *TINY, "seed=0", f"hydra.sweep.dir={sweep_dir}"]
    assert peersim(*args, cwd=tmp_path).returncode == 0
    (run,) = [p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    (run / DONE).unlink()  # killed before its marker
    (run / ".summary.json.123-0badc0de.partial").write_text("half")
    planted = foreign(run / "planted")  # someone's files, in a folder of ours
    (run / "notes.txt").write_text("keep me too\n")
    before = snapshot(planted)
    again = peersim(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "[sweep] computed" in again.stdout
    assert verify_run(run) and not list(run.glob("*.partial"))
    assert snapshot(planted) == before and (run / "notes.txt").read_text() == "keep me too\n"


def test_a_single_run_into_its_own_folder_reruns_there(tmp_path):
    run_dir = tmp_path / "run"
    assert peersim(*TINY, f"hydra.run.dir={run_dir}", cwd=tmp_path).returncode == 0
    (run_dir / "notes.txt").write_text("mine\n")
    again = peersim(*TINY, "seed=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert verify_run(run_dir) and (run_dir / "notes.txt").read_text() == "mine\n"
    assert json.loads((run_dir / "manifest.json").read_text())["seed"] == 1


def test_a_run_writes_only_files_the_tool_knows_as_its_own(tmp_path):
    sim.run(["population.n_agents=20", "steps=3"], output_dir=tmp_path / "run")
    written = {p.name for p in (tmp_path / "run").iterdir()} - {DONE, ".run.lock", MARKER}
    assert written <= RUN_FILES and "outcomes.png" in written
    assert json.loads((tmp_path / "run" / MARKER).read_text())["kind"] == "run"


def test_python_runs_refuse_a_foreign_folder_and_rerun_in_their_own(tmp_path):
    """``sim.run(output_dir=...)`` follows the command line's rule: new, empty or its own."""
    before = snapshot(foreign(tmp_path / "theirs"))
    with pytest.raises(sim.ConfigError, match=r"^output_dir: .*theirs holds files peersim did "
                       r"not write \(notes.txt, sub/, summary.json\)"):  # fmt: skip
        sim.run(TINY, output_dir=tmp_path / "theirs")
    assert snapshot(tmp_path / "theirs") == before
    with pytest.raises(sim.ConfigError, match=r"^output_dir: .* is a file, not a folder"):
        sim.run(TINY, output_dir=tmp_path / "theirs" / "notes.txt" / "run")
    sim.run(TINY, output_dir=tmp_path / "mine")
    sim.run([*TINY, "seed=1"], output_dir=tmp_path / "mine")  # its own folder: rerun there
    assert verify_run(tmp_path / "mine")
    assert json.loads((tmp_path / "mine" / "manifest.json").read_text())["seed"] == 1


# ----------------------------------------------------------------------------- collisions


def test_runs_that_share_a_folder_are_refused_before_the_sweep_starts(tmp_path):
    sweep_dir = tmp_path / "sweep"
    line = refused(
        peersim(
            "-m",
            *TINY,
            "seed=0,1",
            "hydra.sweep.subdir=same",
            f"hydra.sweep.dir={sweep_dir}",
            cwd=tmp_path,
        ),  # fmt: skip
        "hydra.sweep.subdir",
    )
    assert "runs whose folder names are the same" in line and "seed=0" in line
    assert "seed=1" in line and line.endswith("got 'same'")
    line = refused(
        peersim("-m", *TINY, "seed=0,0", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path),
        "hydra.sweep.subdir",
    )
    assert "the same run twice" in line
    assert not sweep_dir.exists()


# ----------------------------------------------------------------------------- collect --out


def test_collect_out_stays_out_of_run_folders_and_foreign_tables(tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = peersim("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    before = snapshot(sweep_dir)
    for out, why in (
        (runs[0], f"{runs[0]} is a run folder"),
        (runs[0] / "tables", f"is inside the run folder {runs[0]}"),
        (sweep_dir / "tables", f"is inside the sweep folder {sweep_dir}"),
    ):
        refusal = collect_cli(str(sweep_dir), "--out", str(out))
        assert refusal.returncode == 2 and why in refusal.stderr, refusal.stderr
        assert len(refusal.stderr.strip().splitlines()) == 1
    assert snapshot(sweep_dir) == before and all(verify_run(run) for run in runs)

    for _ in range(2):  # the default, the sweep folder itself; its own tables are replaced
        assert collect_cli(str(sweep_dir)).returncode == 0
    assert (sweep_dir / RUNS_TABLE).is_file() and (sweep_dir / TIME_SERIES_TABLE).is_file()

    out = tmp_path / "tables"
    out.mkdir()
    (out / RUNS_TABLE).write_text("not a table of ours\n")
    refusal = collect_cli(str(sweep_dir), "--out", str(out))
    assert refusal.returncode == 2
    assert f"{out / RUNS_TABLE} exists and peersim-collect did not write it; pass --force" in (
        refusal.stderr
    )
    assert (out / RUNS_TABLE).read_text() == "not a table of ours\n"
    forced = collect_cli(str(sweep_dir), "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert collect_cli(str(sweep_dir), "--out", str(out)).returncode == 0  # now its own
