"""Writes never follow a planted link, reads refuse links where a listed file should be, graph
files are bounded by size before they are parsed, and text from outside is escaped before it
reaches the terminal (issue: results cannot be altered unseen)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import networkx as nx
import pytest

from sim.core.files import open_regular, write_atomic
from sim.core.text import printable
from sim.io.collect import RUNS_TABLE, TIME_SERIES_TABLE
from sim.io.outputs import DONE, RUN_FILES, verify_run, write_run
from sim.io.owned import MARKER, OPENED_BY_NAME, RUN, claim, problem
from sim.network.graph_file import GRAPH_FILE_FLOOR, GRAPH_FILE_PER_MODEL
from tests.commands import run_module

TIMEOUT = 180
TINY = ["population.n_agents=20", "steps=3", "progress=false", "figures=false"]
PRECIOUS = b"precious: never to be overwritten\n"


def peersim(*args: str, cwd: Path, module: str = "sim") -> subprocess.CompletedProcess:
    return run_module(module, *args, cwd=cwd, timeout=TIMEOUT)


def target(tmp_path: Path, name: str = "target") -> Path:
    """A file outside every output folder, that a planted link points to."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    path = outside / name
    path.write_bytes(PRECIOUS)
    return path


def temporary_names(name: str) -> list[str]:
    """Names a temporary of ``name`` had or might have: this version's and earlier ones'."""
    return [f".{name}.partial", f".{name}.{os.getpid()}-0123abcd.partial",
            f".{name}.abcd1234.partial"]  # fmt: skip


# ----------------------------------------------------------------------------- write_atomic


def test_write_atomic_never_follows_a_link_at_a_temporary_name(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    aim = target(tmp_path)
    for name in temporary_names("summary.json"):
        (folder / name).symlink_to(aim)
    digest = write_atomic(folder / "summary.json", lambda handle: handle.write(b"{}\n"))
    assert aim.read_bytes() == PRECIOUS
    assert (folder / "summary.json").read_bytes() == b"{}\n"
    assert digest == hashlib.sha256(b"{}\n").hexdigest()
    assert not (folder / "summary.json").is_symlink()


def test_write_atomic_replaces_a_link_at_the_final_name_instead_of_following_it(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    aim = target(tmp_path)
    (folder / "summary.json").symlink_to(aim)
    write_atomic(folder / "summary.json", lambda handle: handle.write(b"{}\n"))
    assert aim.read_bytes() == PRECIOUS
    assert not (folder / "summary.json").is_symlink()


def test_write_atomic_gives_files_the_usual_mode(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_atomic(tmp_path / "a.json", lambda handle: handle.write(b"1"))
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


# ----------------------------------------------------------------------------- reading


def test_open_regular_refuses_links_folders_and_fifos(tmp_path):
    aim = target(tmp_path)
    (tmp_path / "link").symlink_to(aim)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "folder", "fifo", "missing"):
        with pytest.raises(OSError):
            open_regular(tmp_path / name)
    with open_regular(aim) as handle:
        assert handle.read() == PRECIOUS


def test_a_done_marker_listing_a_link_does_not_verify(tmp_path):
    folder = tmp_path / "run"
    write_run(folder, {"summary.json": lambda handle: handle.write(PRECIOUS)})
    assert verify_run(folder)
    copy = target(tmp_path, "summary.json")  # same bytes, so the same checksum
    (folder / "summary.json").unlink()
    (folder / "summary.json").symlink_to(copy)
    assert not verify_run(folder)


def test_a_fifo_planted_as_the_done_marker_neither_blocks_nor_verifies(tmp_path):
    os.mkfifo(tmp_path / DONE)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(verify_run(tmp_path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert outcome == [False]


def test_a_linked_marker_does_not_make_a_folder_the_tools(tmp_path):
    theirs = tmp_path / "theirs"
    claim(theirs, RUN)  # a genuine marker elsewhere
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / MARKER).symlink_to(theirs / MARKER)
    (folder / "notes.txt").write_text("keep me\n")
    assert "link" in problem(folder, RUN) and MARKER in problem(folder, RUN)


@pytest.mark.parametrize("name", sorted(OPENED_BY_NAME - {".hydra"}))
def test_a_link_where_a_file_is_opened_by_name_is_refused(tmp_path, name):
    folder = tmp_path / "run"
    (folder / ".hydra").mkdir(parents=True)
    (folder / name).symlink_to(target(tmp_path))
    assert problem(folder, RUN) == f"holds a link where peersim writes ({name}); remove it"


# ----------------------------------------------------------------------------- the command


def test_a_run_into_its_folder_never_writes_through_planted_links(tmp_path):
    """Links at every temporary-name pattern of every file a run writes (and of the marker):
    the rerun writes its folder whole, the links' target is unchanged."""
    folder = tmp_path / "run"
    first = peersim(*TINY, f"hydra.run.dir={folder}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    aim = target(tmp_path)
    for name in sorted(RUN_FILES | {DONE, MARKER}):
        for temporary in temporary_names(name):
            (folder / temporary).symlink_to(aim)
    again = peersim(*TINY, f"hydra.run.dir={folder}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert aim.read_bytes() == PRECIOUS
    assert verify_run(folder)


def test_a_planted_hydra_link_is_refused_before_anything_is_written(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    elsewhere = tmp_path / "outside"
    elsewhere.mkdir()
    (folder / ".hydra").symlink_to(elsewhere)
    done = peersim(*TINY, f"hydra.run.dir={folder}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "holds a link where peersim writes (.hydra)" in (
        done.stderr
    )
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in folder.iterdir()) == [".hydra"]


def test_collect_never_writes_through_a_link_at_its_temporary_names(tmp_path):
    sweep = tmp_path / "sweep"
    ran = peersim("-m", *TINY, "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    aim = target(tmp_path)
    for table in (RUNS_TABLE, TIME_SERIES_TABLE):
        for temporary in temporary_names(table):
            (sweep / temporary).symlink_to(aim)
    collected = peersim(str(sweep), "--strict", cwd=tmp_path, module="sim.app.collect")
    assert collected.returncode == 0, collected.stderr
    assert aim.read_bytes() == PRECIOUS
    assert not (sweep / RUNS_TABLE).is_symlink()


# ----------------------------------------------------------------------------- graph files


def test_a_graph_file_too_large_for_the_fleet_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.txt"
    line = b"0 1 0.5\n"
    path.write_bytes(line * (GRAPH_FILE_FLOOR // len(line) + 1))  # > 4 MiB of edges
    done = peersim(*TINY, "graph=file", f"graph.path={path}", "population.n_agents=10",
                   f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    (message,) = done.stderr.splitlines()
    assert "graph.path: 4.0 MiB is more than a graph of population.n_agents=10 may take" in message
    assert f"{GRAPH_FILE_PER_MODEL // 1024} KiB a model" in message and str(path) in message
    assert not (tmp_path / "run").exists()


def test_the_graph_file_bound_grows_with_the_fleet(tmp_path):
    """A dense graph within its fleet's bound is read: complete on 600 models as GraphML."""
    from sim.network.graph_file import read_graph_file

    path = tmp_path / "dense.graphml"
    nx.write_graphml(nx.complete_graph(600), path)
    assert GRAPH_FILE_FLOOR < path.stat().st_size <= 600 * GRAPH_FILE_PER_MODEL
    assert read_graph_file(str(path), 600).number_of_edges() == 600 * 599 // 2


# ----------------------------------------------------------------------------- the terminal


def test_printable_escapes_control_and_format_characters_only():
    hostile = "ok\x1b[2J\rgone\u202etxt.exe\x00\x7f\ttab\nline é"
    assert printable(hostile) == "ok\\x1b[2J\\x0dgone\\u202etxt.exe\\x00\\x7f\ttab\nline é"


def test_a_hostile_file_name_reaches_the_terminal_escaped(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "notes\x1b[31mRED\x1b[0m.txt").write_text("keep me\n")
    done = peersim(*TINY, f"hydra.run.dir={folder}", cwd=tmp_path)
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "notes\\x1b[31mRED\\x1b[0m.txt" in done.stderr
