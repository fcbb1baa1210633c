"""Run folders (sim/io/outputs.py): atomic files, the ``done`` marker, JSON and provenance."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import subprocess
import threading
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from sim.core.files import write_atomic
from sim.io import outputs
from sim.io.locks import RUN_LOCK
from sim.io.outputs import (
    DONE,
    json_writer,
    manifest,
    verify_run,
    write_json,
    write_run,
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bytes_writer(data: bytes):
    return lambda handle: handle.write(data)


def listing(folder: Path) -> list[str]:
    """The folder's files, but its lock (held while a run folder is written, then kept)."""
    return sorted(p.name for p in folder.iterdir() if p.name != RUN_LOCK)


# ----------------------------------------------------------------------------- write_atomic


@pytest.mark.parametrize("data", [b"", b"x", b"hello\n" * 1000, bytes(range(256))])
def test_write_atomic_writes_and_returns_sha256(tmp_path, data):
    digest = write_atomic(tmp_path / "file.bin", bytes_writer(data))
    assert digest == sha256(data)
    assert (tmp_path / "file.bin").read_bytes() == data
    assert listing(tmp_path) == ["file.bin"]  # no temporary left behind


def test_write_atomic_writes_through_a_temporary_name(tmp_path):
    seen = []

    def writer(handle) -> None:
        if not seen:
            assert not (tmp_path / "table.parquet").exists()  # final name untouched while writing
        (temporary,) = (p.name for p in tmp_path.iterdir() if p.name != "table.parquet")
        seen.append(temporary)
        handle.write(b"abc")

    write_atomic(tmp_path / "table.parquet", writer)
    write_atomic(tmp_path / "table.parquet", writer)
    (first, second) = seen
    assert re.fullmatch(r"\.table\.parquet\.[a-z0-9_]{8}\.partial", first)
    assert second != first  # a new name at every call
    assert listing(tmp_path) == ["table.parquet"]


def test_concurrent_writers_of_one_file_never_share_a_temporary(tmp_path):
    """Threads (one process id) writing the same file at once: each write lands whole."""
    path, contents, errors = tmp_path / "graph.graphml", [], []

    def write(index: int) -> None:
        data = f"writer {index}\n".encode() * 1000
        contents.append(data)
        try:
            for _ in range(20):
                assert write_atomic(path, bytes_writer(data)) == sha256(data)
        except Exception as error:  # collected: an assertion in a thread is lost otherwise
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert path.read_bytes() in contents
    assert listing(tmp_path) == ["graph.graphml"]


def test_write_atomic_replaces_an_existing_file(tmp_path):
    (tmp_path / "a.json").write_text("old")
    assert write_atomic(tmp_path / "a.json", bytes_writer(b"new")) == sha256(b"new")
    assert (tmp_path / "a.json").read_bytes() == b"new"
    assert listing(tmp_path) == ["a.json"]


@pytest.mark.parametrize("written", [None, b"", b"half a file"], ids=["nothing", "empty", "part"])
def test_write_atomic_failure_leaves_no_file_and_no_temporary(tmp_path, written):
    def writer(handle) -> None:
        if written is not None:
            handle.write(written)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomic(tmp_path / "summary.json", writer)
    assert listing(tmp_path) == []


def test_write_atomic_failure_keeps_the_previous_file(tmp_path):
    (tmp_path / "summary.json").write_bytes(b"previous")

    def writer(handle) -> None:
        handle.write(b"new but broken")
        raise OSError("no space left")

    with pytest.raises(OSError, match="no space left"):
        write_atomic(tmp_path / "summary.json", writer)
    assert (tmp_path / "summary.json").read_bytes() == b"previous"
    assert listing(tmp_path) == ["summary.json"]


# ----------------------------------------------------------------------------- write_run


def test_write_run_writes_every_file_then_the_marker(tmp_path):
    folder = tmp_path / "runs" / "one"  # created with its parents
    order = []

    def writer(name: str, data: bytes):
        def write(handle) -> None:
            assert not (folder / DONE).exists(), f"marker exists while writing {name}"
            order.append(name)
            handle.write(data)

        return write

    files = {"b.parquet": b"bbb", "a.json": b"{}", "c.png": b"\x89PNG"}
    checksums = write_run(folder, {name: writer(name, data) for name, data in files.items()})
    assert order == list(files)  # in the given order
    assert checksums == {name: sha256(data) for name, data in files.items()}
    marker = json.loads((folder / DONE).read_text())
    assert marker == {"files": checksums}
    assert listing(folder) == sorted([*files, DONE])
    assert verify_run(folder)


def test_write_run_removes_a_stale_marker_first(tmp_path):
    (tmp_path / DONE).write_text(json.dumps({"files": {"x.json": sha256(b"old")}}))
    (tmp_path / "x.json").write_bytes(b"old")
    assert verify_run(tmp_path)  # the stale folder verifies before the rewrite
    marker_seen = []

    def write(handle) -> None:
        marker_seen.append((tmp_path / DONE).exists())
        handle.write(b"new")

    write_run(tmp_path, {"x.json": write})
    assert marker_seen == [False]
    assert json.loads((tmp_path / DONE).read_text()) == {"files": {"x.json": sha256(b"new")}}


def test_write_run_failing_writer_leaves_no_marker(tmp_path):
    (tmp_path / DONE).write_text('{"files": {}}')  # a stale marker of an earlier run

    def broken(handle) -> None:
        handle.write(b"partial")
        raise RuntimeError("crash in the middle")

    writers = {
        "first.json": bytes_writer(b"1"),
        "second.json": broken,
        "third.json": bytes_writer(b"3"),
    }
    with pytest.raises(RuntimeError, match="crash in the middle"):
        write_run(tmp_path, writers)
    assert listing(tmp_path) == ["first.json"]  # no marker, no temporary, nothing after the crash
    assert not verify_run(tmp_path)


def test_write_json_returns_the_sha256_of_the_file(tmp_path):
    digest = write_json(tmp_path / "s.json", {"b": 1, "a": [1.5, None]})
    assert digest == sha256((tmp_path / "s.json").read_bytes())
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": [1.5, None], "b": 1}


# ----------------------------------------------------------------------------- verify_run


@pytest.fixture
def run_folder(tmp_path):
    write_run(tmp_path, {"a.parquet": bytes_writer(b"table bytes"), "b.json": bytes_writer(b"{}")})
    assert verify_run(tmp_path)
    return tmp_path


def flip_a_byte(folder: Path) -> None:
    data = bytearray((folder / "a.parquet").read_bytes())
    data[3] ^= 0x01
    (folder / "a.parquet").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: (f / DONE).unlink(), id="missing-marker"),
        pytest.param(lambda f: (f / "a.parquet").unlink(), id="missing-file"),
        pytest.param(flip_a_byte, id="changed-byte"),
        pytest.param(lambda f: (f / "b.json").write_bytes(b"{} "), id="appended-byte"),
        pytest.param(lambda f: (f / "a.parquet").write_bytes(b"table"), id="truncated-file"),
        pytest.param(lambda f: (f / DONE).write_text("{not json"), id="marker-not-json"),
        pytest.param(lambda f: (f / DONE).write_text(""), id="marker-empty"),
        pytest.param(lambda f: (f / DONE).write_text('{"checksums": {}}'), id="marker-no-files"),
        pytest.param(
            lambda f: (f / DONE).write_text('{"files": {"a.parquet": 5}}'), id="digest-not-str"
        ),
        pytest.param(lambda f: (f / DONE).write_bytes(b"\xff\xfe"), id="marker-not-utf8"),
        pytest.param(lambda f: ((f / "a.parquet").unlink(), (f / "a.parquet").mkdir()), id="dir"),
    ],
)
def test_verify_run_is_false_for_a_damaged_folder(run_folder, damage):
    damage(run_folder)
    assert verify_run(run_folder) is False


def test_verify_run_is_false_for_a_missing_folder(tmp_path):
    assert verify_run(tmp_path / "nowhere") is False


def test_verify_run_ignores_files_the_marker_does_not_list(run_folder):
    (run_folder / "cli.log").write_text("log lines")
    (run_folder / ".c.png.123-0badc0de.partial").write_bytes(b"junk")
    assert (run_folder / RUN_LOCK).is_file()  # written under the lock, which stays
    assert RUN_LOCK not in json.loads((run_folder / DONE).read_text())["files"]
    assert verify_run(run_folder) is True


@pytest.mark.parametrize(
    "marker", ["[]", "null", '"done"', "3", '{"files": null}', '{"files": ["a.parquet"]}']
)
def test_verify_run_is_false_for_a_marker_of_the_wrong_shape(run_folder, marker):
    (run_folder / DONE).write_text(marker)
    assert verify_run(run_folder) is False


# ----------------------------------------------------------------------------- json_writer


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"x": math.nan}, {"x": None}),
        ({"x": math.inf, "y": -math.inf}, {"x": None, "y": None}),
        ({"x": np.float64("nan"), "y": np.float64(2.5)}, {"x": None, "y": 2.5}),
        (
            {"nested": {"deep": [1.0, math.nan, (math.inf, 2)]}},
            {"nested": {"deep": [1.0, None, [None, 2]]}},
        ),
        ([math.nan, 0.1, 1e308], [None, 0.1, 1e308]),
        (
            {"ok": 0.30000000000000004, "none": None, "int": 7, "s": "nan"},
            {"ok": 0.30000000000000004, "none": None, "int": 7, "s": "nan"},
        ),
    ],
)
def test_json_writer_turns_non_finite_into_null(tmp_path, data, expected):
    write_atomic(tmp_path / "x.json", json_writer(data))
    text = (tmp_path / "x.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == expected


def test_json_writer_sorts_keys_and_indents(tmp_path):
    write_atomic(tmp_path / "x.json", json_writer({"b": 1, "a": {"z": 1, "y": 2}, "c": [3]}))
    text = (tmp_path / "x.json").read_text(encoding="utf-8")
    assert (
        text == '{\n  "a": {\n    "y": 2,\n    "z": 1\n  },\n  "b": 1,\n  "c": [\n    3\n  ]\n}\n'
    )


def test_json_writer_is_deterministic(tmp_path):
    write_atomic(tmp_path / "one.json", json_writer({"b": math.nan, "a": 1}))
    write_atomic(tmp_path / "two.json", json_writer({"a": 1, "b": math.nan}))
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()


# ----------------------------------------------------------------------------- manifest


def installed(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def test_manifest_lists_config_seed_versions_and_git(tmp_path):
    config = {"population": {"n_agents": 30}, "steps": 20}
    found = manifest(config, 7)
    assert set(found) == {"config", "seed", "versions", "git"}
    assert found["config"] == config
    assert found["seed"] == 7
    versions = found["versions"]
    assert versions["python"] == platform.python_version()
    for package in ("numpy", "mesa", "networkx", "hydra-core", "pandas", "pyarrow"):
        assert versions[package] == metadata.version(package)
    assert ("litellm" in versions) == (installed("litellm") is not None)
    git = found["git"]
    assert set(git) == {"commit", "dirty"}
    if git["commit"] is None:  # not a checkout, or no git: both unknown
        assert git["dirty"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", git["commit"])
        assert isinstance(git["dirty"], bool)
    # It serialises as the manifest file does.
    write_json(tmp_path / "manifest.json", found)
    assert json.loads((tmp_path / "manifest.json").read_text()) == found


def fake_git(commit, status):
    """A stand-in for subprocess.run answering ``git rev-parse`` and ``git status``."""

    def run(args, **kwargs):
        answer = commit if args[1] == "rev-parse" else status
        if isinstance(answer, BaseException):
            raise answer
        return subprocess.CompletedProcess(args, 0, stdout=answer + "\n", stderr="")

    return run


@pytest.mark.parametrize(
    ("commit", "status", "expected"),
    [
        (OSError("no git"), "", {"commit": None, "dirty": None}),
        (subprocess.CalledProcessError(128, "git"), "", {"commit": None, "dirty": None}),
        (subprocess.TimeoutExpired("git", 10), "", {"commit": None, "dirty": None}),
        ("a" * 40, "", {"commit": "a" * 40, "dirty": False}),
        ("b" * 40, " M sim/model/ecosystem.py", {"commit": "b" * 40, "dirty": True}),
        ("c" * 40, subprocess.CalledProcessError(1, "git"), {"commit": "c" * 40, "dirty": None}),
    ],
    ids=["no-git", "not-a-checkout", "timeout", "clean", "dirty", "status-fails"],
)
def test_manifest_git_state(monkeypatch, commit, status, expected):
    monkeypatch.setattr(outputs.subprocess, "run", fake_git(commit, status))
    assert manifest({}, 0)["git"] == expected


def test_manifest_skips_packages_that_are_not_installed(monkeypatch):
    real = metadata.version

    def version(package):
        if package == "litellm":
            raise metadata.PackageNotFoundError(package)
        return real(package)

    monkeypatch.setattr(outputs.metadata, "version", version)
    versions = manifest({}, 0)["versions"]
    assert "litellm" not in versions
    assert versions["numpy"] == real("numpy")
