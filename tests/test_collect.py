"""Collecting a sweep folder into tables (sim/io/collect.py, sim/io/runs.py) and its command
line (sim/app/collect.py): statuses, schemas, refusals, output folders that cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
from sim.app.collect import main
from sim.io.collect import (
    MODELS_TABLE,
    RUNS_TABLE,
    TIME_SERIES_TABLE,
    CollectError,
    DuplicateRunsError,
    collect,
)
from sim.io.locks import RUN_LOCK, SWEEP_LOCK
from sim.io.outputs import DONE
from sim.io.runs import parse_overrides

SMALL = ["population.n_agents=30", "steps=5", "figures=false"]
#: Run folder (relative to the sweep) -> the overrides it was run with.
SWEEP = {
    "0": [*SMALL, "seed=0", "operator.audit_rate=0.1"],
    "1": [*SMALL, "seed=1", "operator.audit_rate=0.1"],
    "2": [*SMALL, "seed=0", "operator.audit_rate=0.3", "graph=complete"],
    "more/10": [*SMALL, "seed=2", "operator.audit_rate=0", "engine=llm"],
}
PARAMETERS = [
    "population.n_agents",
    "steps",
    "figures",
    "seed",
    "operator.audit_rate",
    "graph",
    "engine",
]


def hydra_record(folder: Path, overrides: list[str]) -> None:
    """What Hydra writes into each run folder: the run's override strings."""
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))


def flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A tiny real sweep, built once: four runs, one of them in a nested folder."""
    root = tmp_path_factory.mktemp("sweep")
    for name, overrides in SWEEP.items():
        sim.run(overrides, output_dir=root / name)
        hydra_record(root / name, overrides)
    return root


@pytest.fixture
def sweep(built, tmp_path) -> Path:
    """A fresh copy of the sweep, free to damage."""
    return Path(shutil.copytree(built, tmp_path / "sweep"))


def add_failed(sweep: Path, name: str, overrides: list[str], exception: str) -> None:
    hydra_record(sweep / name, overrides)
    (sweep / name / "failed.json").write_text(
        json.dumps(
            {
                "overrides": overrides,
                "exception": exception,
                "traceback": f"Traceback (most recent call last):\n  ...\n{exception}\n",
            }
        )
    )


def add_killed(sweep: Path, name: str, overrides: list[str]) -> None:
    hydra_record(sweep / name, overrides)  # Hydra wrote its record; the run never finished


def tables_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name in (RUNS_TABLE, TIME_SERIES_TABLE))


# ----------------------------------------------------------------------------- the runs table


def test_runs_table_has_one_row_per_run_with_parameters_and_metrics(sweep, capsys):
    assert main([str(sweep)]) == 0
    runs = pd.read_parquet(sweep / RUNS_TABLE)
    assert list(runs["run"]) == list(SWEEP)  # natural order, paths relative to the sweep
    assert (runs["status"] == "ok").all()
    assert list(runs.columns[: 2 + len(PARAMETERS)]) == ["run", "status", *PARAMETERS]

    summaries = {name: json.loads((sweep / name / "summary.json").read_text()) for name in SWEEP}
    metrics = flatten(summaries["more/10"])
    assert "llm_outcomes.comply" in metrics  # nested entries are flattened
    # `steps` is both an override and a summary entry: the metric is prefixed.
    expected = [("summary.steps" if m == "steps" else m) for m in metrics]
    assert set(runs.columns[2 + len(PARAMETERS) :]) == set(expected)

    assert runs["seed"].dtype == "int64"
    assert runs["operator.audit_rate"].dtype == "float64"
    assert list(runs["operator.audit_rate"]) == [0.1, 0.1, 0.3, 0.0]
    assert runs["figures"].dtype == "bool" and not runs["figures"].any()
    assert runs["population.n_agents"].dtype == "int64"
    assert pd.api.types.is_string_dtype(runs["graph"])
    assert runs["graph"].isna().tolist() == [True, True, False, True]  # set in one run only
    assert runs.loc[2, "graph"] == "complete"
    assert runs["final_protective_share"].dtype == "float64"
    assert pd.api.types.is_integer_dtype(runs["n_agents"])
    assert runs["llm_outcomes.comply"].dtype == "Int64"  # only the llm run has it: nullable
    assert runs.loc[:2, "llm_outcomes.comply"].isna().all()

    for index, name in enumerate(SWEEP):
        for metric, value in flatten(summaries[name]).items():
            column = "summary.steps" if metric == "steps" else metric
            got = runs.loc[index, column]
            if value is None:
                assert pd.isna(got), (name, metric)
            else:
                assert got == value, (name, metric)
    for name in SWEEP:  # not a string-typed number anywhere
        assert all(
            pd.api.types.is_numeric_dtype(runs[m]) for m in flatten(summaries[name]) if m != "steps"
        )
    assert "4 runs (4 ok, 0 failed, 0 incomplete)" in capsys.readouterr().out


def test_overrides_are_typed_as_hydra_parses_them():
    params, _ = parse_overrides(
        [
            "a.b=0.1",
            "n=3",
            "flag=true",
            "name=labs",
            "quoted='3'",
            "+population.families.honest=1",
            "gone=null",
            "l=[x,y]",
        ]
    )
    values = {key: value for key, (value, _) in params.items()}
    assert values == {
        "a.b": 0.1,
        "n": 3,
        "flag": True,
        "name": "labs",
        "quoted": "3",
        "population.families.honest": 1,
        "gone": None,
        "l": "[x,y]",
    }
    assert type(values["n"]) is int and type(values["flag"]) is bool
    # The same point written differently is the same point.
    assert parse_overrides(["a=0.10", "+b=1"])[1] == parse_overrides(["b=1", "a=0.1"])[1]


# ----------------------------------------------------------------------------- the long table


def test_long_table_holds_every_runs_time_series(sweep):
    collected = collect(sweep)
    long = collected.time_series
    assert list(long.columns[: 1 + len(PARAMETERS)]) == ["run", *PARAMETERS]
    runs = collected.runs.set_index("run")
    for name in SWEEP:
        series = pd.read_parquet(sweep / name / "time_series.parquet")
        part = long[long["run"] == name].reset_index(drop=True)
        assert len(part) == len(series)
        pd.testing.assert_frame_equal(part[list(series.columns)], series, check_dtype=False)
        for parameter in ("seed", "operator.audit_rate"):
            assert (part[parameter] == runs.loc[name, parameter]).all()
    assert len(long) == sum(len(pd.read_parquet(sweep / n / "time_series.parquet")) for n in SWEEP)
    assert long["seed"].dtype == "int64" and long["step"].dtype == "int64"

    main([str(sweep)])  # the written table is the same
    written = pd.read_parquet(sweep / TIME_SERIES_TABLE)
    pd.testing.assert_frame_equal(written, long, check_dtype=False)
    assert [p.name for p in sweep.iterdir() if p.name.endswith(".partial")] == []


def test_long_model_table_holds_every_runs_model_table(sweep):
    collected = collect(sweep)
    long = collected.models
    assert list(long.columns[: 1 + len(PARAMETERS)]) == ["run", *PARAMETERS]
    for name in SWEEP:
        models = pd.read_parquet(sweep / name / "models.parquet")
        part = long[long["run"] == name].reset_index(drop=True)
        assert len(part) == len(models) > 0
        pd.testing.assert_frame_equal(part[list(models.columns)], models, check_dtype=False)
    main([str(sweep)])
    written = pd.read_parquet(sweep / MODELS_TABLE)
    pd.testing.assert_frame_equal(written, long, check_dtype=False)


def test_a_run_without_a_model_table_is_still_ok(sweep):
    # A run made before models.parquet existed: its done marker does not list one.
    name = next(iter(SWEEP))
    (sweep / name / "models.parquet").unlink()
    done = json.loads((sweep / name / DONE).read_text())
    done["files"].pop("models.parquet")
    (sweep / name / DONE).write_text(json.dumps(done))
    collected = collect(sweep)
    assert set(collected.runs["status"]) == {"ok"}
    assert name not in set(collected.models["run"]) and len(set(collected.models["run"])) > 0


# ----------------------------------------------------------------------------- refusals


def test_duplicate_runs_are_refused_and_nothing_is_written(sweep, tmp_path, capsys):
    shutil.copytree(sweep / "1", sweep / "7")
    out = tmp_path / "tables"
    assert main([str(sweep), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1, 7" in err and "seed=1" in err and "Nothing written" in err
    assert not out.exists()
    assert main([str(sweep)]) == 1
    assert tables_in(sweep) == []
    with pytest.raises(DuplicateRunsError, match="1, 7"):
        collect(sweep)


def test_failed_and_incomplete_runs_are_listed_and_kept_out_of_the_time_series(sweep, capsys):
    add_failed(sweep, "4", [*SMALL, "seed=4"], "ValueError: the fleet caught fire")
    add_killed(sweep, "5", [*SMALL, "seed=5"])
    (sweep / "0" / "done").unlink()  # finished writing its tables, not its marker
    assert main([str(sweep)]) == 0
    err = capsys.readouterr().err
    assert "3 of 6 runs are not ok" in err
    assert "failed" in err and "seed=4" in err and "ValueError: the fleet caught fire" in err
    assert "seed=5" in err and "no done marker" in err

    runs = pd.read_parquet(sweep / RUNS_TABLE).set_index("run")
    assert runs["status"].to_dict() == {
        "0": "incomplete",
        "1": "ok",
        "2": "ok",
        "4": "failed",
        "5": "incomplete",
        "more/10": "ok",
    }
    assert runs.loc["4", "seed"] == 4  # parameters kept for runs that are not ok
    assert runs.loc[["0", "4", "5"], "final_protective_share"].isna().all()  # metrics not
    assert runs["seed"].dtype == "int64"
    long = pd.read_parquet(sweep / TIME_SERIES_TABLE)
    assert set(long["run"]) == {"1", "2", "more/10"}

    collected = collect(sweep)
    assert [(p.run, p.status) for p in collected.problems] == [
        ("0", "incomplete"),
        ("4", "failed"),
        ("5", "incomplete"),
    ]
    assert collected.problems[1].reason == "ValueError: the fleet caught fire"


def test_a_failure_record_without_hydra_record_still_gives_the_overrides(sweep, capsys):
    (sweep / "8").mkdir()
    (sweep / "8" / "failed.json").write_text(
        json.dumps({"overrides": ["seed=8"], "exception": "", "traceback": "x\nKeyError: 'a'\n"})
    )
    assert main([str(sweep)]) == 0
    assert "seed=8: KeyError: 'a'" in capsys.readouterr().err
    runs = pd.read_parquet(sweep / RUNS_TABLE).set_index("run")
    assert runs.loc["8", "status"] == "failed" and runs.loc["8", "seed"] == 8


def test_strict_exits_1_when_a_run_is_not_ok(sweep, capsys):
    assert main([str(sweep), "--strict"]) == 0
    add_killed(sweep, "5", [*SMALL, "seed=5"])
    assert main([str(sweep), "--strict"]) == 1
    assert "seed=5" in capsys.readouterr().err
    assert tables_in(sweep) == [RUNS_TABLE, TIME_SERIES_TABLE]  # still written


def test_a_corrupted_file_makes_its_run_incomplete(sweep, capsys):
    path = sweep / "2" / "time_series.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main([str(sweep)]) == 0
    assert "done marker does not match" in capsys.readouterr().err
    runs = pd.read_parquet(sweep / RUNS_TABLE).set_index("run")
    assert runs.loc["2", "status"] == "incomplete"
    assert (runs.drop(index="2")["status"] == "ok").all()
    assert "2" not in set(pd.read_parquet(sweep / TIME_SERIES_TABLE)["run"])


def test_a_missing_or_empty_folder_exits_2(tmp_path, capsys):
    missing = tmp_path / "no-such-sweep"
    assert main([str(missing)]) == 2
    assert f"sweep folder not found: {missing}" in capsys.readouterr().err
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert main([str(tmp_path / "empty")]) == 2
    assert "no runs in" in capsys.readouterr().err
    assert tables_in(tmp_path / "empty") == []
    with pytest.raises(CollectError, match="not found"):
        collect(missing)


def test_a_run_folder_is_never_the_output(sweep, capsys):
    assert main([str(sweep / "1")]) == 2  # one run: its own time_series.parquet is kept
    assert "(pass --out)" in capsys.readouterr().err
    assert main([str(sweep / "1"), "--out", str(sweep / "one")]) == 0
    assert len(pd.read_parquet(sweep / "one" / RUNS_TABLE)) == 1


def test_module_entry_point(sweep, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim.app.collect", str(sweep), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert tables_in(tmp_path / "out") == [RUNS_TABLE, TIME_SERIES_TABLE]


def test_a_failure_record_wins_over_a_done_marker(sweep):
    add_failed(sweep, "1", SWEEP["1"], "RuntimeError: after the tables")
    runs = collect(sweep).runs.set_index("run")
    assert runs.loc["1", "status"] == "failed"
    assert runs.loc["1", ["final_protective_share"]].isna().all()


def test_lock_files_play_no_part(sweep, tmp_path):
    before = collect(sweep)
    (sweep / SWEEP_LOCK).touch()
    for name in ("0", "more/10"):
        (sweep / name / RUN_LOCK).touch()
    (sweep / "lonely").mkdir()  # a folder holding only a lock is not a run
    (sweep / "lonely" / RUN_LOCK).touch()
    after = collect(sweep)
    pd.testing.assert_frame_equal(after.runs, before.runs)
    pd.testing.assert_frame_equal(after.time_series, before.time_series)
    assert main([str(sweep), "--out", str(tmp_path / "out")]) == 0


# ----------------------------------------------------------------------------- --out


def collect_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["peersim-collect", *args], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture
def read_only(request):
    """Makes a folder read-only, so nothing can be created in it; immutable too when running
    as root, which ignores permission bits. Undone at the end of the test."""

    def make(folder: Path) -> Path:
        folder.chmod(0o555)
        request.addfinalizer(lambda: folder.chmod(0o755))
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode:
                pytest.skip("running as root without chattr +i: no folder is read-only")
            request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(folder)]))
        return folder

    return make


@pytest.mark.parametrize("where", ["proc", "under-a-file", "read-only"])
def test_an_unwritable_out_is_one_line_and_exit_2_before_any_work(
    where, sweep, tmp_path, read_only
):
    if where == "proc":
        if not Path("/proc").is_dir():
            pytest.skip("no /proc")
        out, problem = Path("/proc/x"), "cannot create a folder in /proc ("
    elif where == "under-a-file":
        (tmp_path / "a-file").write_text("")
        out, problem = tmp_path / "a-file" / "tables", f"{tmp_path / 'a-file'} is not a folder"
    else:
        (tmp_path / "locked").mkdir()
        out = read_only(tmp_path / "locked") / "tables"
        problem = f"cannot create a folder in {out.parent} ("
    (sweep / "1" / ".hydra" / "overrides.yaml").write_text("[")  # read, it would be listed
    done = collect_cli(str(sweep), "--out", str(out))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()  # one line, no traceback
    assert line.startswith(f"peersim-collect: --out {out}: {problem}")
    assert tables_in(sweep) == []


def test_an_unwritable_sweep_folder_needs_out(sweep, tmp_path, read_only):
    read_only(sweep)
    done = collect_cli(str(sweep))
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"peersim-collect: {sweep} (pass --out): cannot create a folder in")
    assert collect_cli(str(sweep), "--out", str(tmp_path / "out")).returncode == 0
