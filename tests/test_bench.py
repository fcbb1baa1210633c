"""The benchmark harness (benchmarks/bench.py) at tiny sizes: record schema, one record per
(implementation, N), clear errors for bad arguments, the EoN-missing and timeout paths,
and the targets computed from made-up records. Nothing here times anything."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_report

ROOT = Path(__file__).resolve().parents[1]
BENCH = [sys.executable, str(ROOT / "benchmarks" / "bench.py")]
FIELDS = (
    "impl",
    "n_agents",
    "steps",
    "build_s",
    "run_s",
    "steps_per_s",
    "agent_steps_per_s",
    "peak_rss_mb",
    "ratio_vs_reference",
    "status",
)
REFERENCE_MISSING = importlib.util.find_spec("benchmarks.reference") is None


def bench(*args: str, timeout: float = 120, env: dict | None = None):
    return subprocess.run(
        [*BENCH, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    done = bench(
        "--sizes", "300", "--steps", "3", "--only", "engine,reference,virus", "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def test_tiny_run_writes_the_schema(tiny):
    payload, stdout = tiny
    assert {"records", "targets", "machine"} <= payload.keys()
    records = payload["records"]
    pairs = [(r["impl"], r["n_agents"]) for r in records]
    assert sorted(pairs) == [("engine", 300), ("reference", 300), ("virus", 300)]
    for record in records:
        assert set(FIELDS) <= record.keys(), record
    for impl in ("engine", "virus"):
        record = bench_report.find(records, impl, 300)
        assert record["status"] == "ok", record
        assert record["steps"] == 3 and record["time_series_rows"] == 4
        assert record["build_s"] > 0 and record["run_s"] > 0 and record["peak_rss_mb"] > 0
        assert record["agent_steps_per_s"] == pytest.approx(300 * record["steps_per_s"])
    assert "ratio_vs_reference" in bench_report.find(records, "engine", 300)
    for target in payload["targets"]:
        assert target["status"] in ("PASS", "FAIL", "SKIP") and target["name"]
    assert payload["machine"]["cpus"] >= 1
    assert "agent-steps/s" in stdout and "targets:" in stdout


@pytest.mark.skipif(REFERENCE_MISSING, reason="benchmarks/reference.py not written yet")
def test_tiny_run_compares_with_the_reference(tiny):
    records = tiny[0]["records"]
    reference = bench_report.find(records, "reference", 300)
    assert reference["status"] == "ok", reference
    assert reference["steps"] == 3 and reference["time_series_rows"] == 4
    assert bench_report.find(records, "engine", 300)["ratio_vs_reference"] > 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--sizes", "abc"], "--sizes"),
        (["--sizes", "0"], "--sizes"),
        (["--only", "engine,nope"], "--only"),
        (["--steps", "-2"], "--steps"),
    ],
)
def test_bad_argument_stops_before_writing(tmp_path, args, named):
    out = tmp_path / "never.json"
    done = bench(*args, "--json", str(out), timeout=30)
    assert done.returncode != 0
    assert named in done.stderr and args[1] in done.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_missing_eon_is_reported_as_skipped(tmp_path):
    stub = tmp_path / "stub" / "EoN"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('EoN hidden for this test')\n")
    out = tmp_path / "spread.json"
    env = {**os.environ, "PYTHONPATH": str(stub.parent)}
    done = bench("--only", "spread", "--spread-n", "2000", "--json", str(out), env=env)
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())["records"]
    eon = bench_report.find(records, "eon-sir")
    assert eon["status"] == "skipped" and eon["note"] == "skipped: pip install -e .[bench]"
    engine = bench_report.find(records, "engine-spread")
    assert engine["status"] == "ok" and engine["steps"] >= 1 and 0 < engine["final_size"] <= 1


def test_timeout_is_reported_and_the_run_goes_on(tmp_path):
    out = tmp_path / "timeout.json"
    args = ["--sizes", "300", "--only", "engine,import", "--timeout", "0.05"]
    done = bench(*args, "--json", str(out))
    assert done.returncode == 0, done.stderr
    payload = json.loads(out.read_text())
    (record,) = payload["records"]
    assert record["status"] == "timeout" and record["run_s"] is None
    assert "TIMEOUT" in done.stdout
    assert "timeout" in payload["checks"]["import"]["note"]


# ------------------------------------------------------------------- targets, made up
def made_up(impl, n, steps_per_s, build_s=1.0, steps=100, status="ok", **extra):
    record = bench_report.empty_record(impl, n, steps_requested=steps, **extra)
    record.update(steps=steps, build_s=build_s, run_s=steps / steps_per_s, status=status)
    return bench_report.fill_rates(record)


def by_name(items, start):
    (item,) = [t for t in items if t["name"].startswith(start)]
    return item


def test_targets_from_made_up_records():
    records = [
        made_up("engine", 10_000, 100.0),
        made_up("reference", 10_000, 1.0),  # 100x
        made_up("engine", 100_000, 10.0, build_s=6.0),
        made_up("reference", 100_000, 0.5, steps=10),  # 20x
        made_up("engine", 1_000_000, 2.0, build_s=20.0, peak_rss_mb=2000.0),  # 70 s
        made_up("engine-spread", 1_000_000, 10.0, final_size=0.58, theory_final_size=0.583),
        made_up("eon-sir", 1_000_000, 1.0, final_size=0.59),
    ]
    records[5]["ratio_vs_reference"] = 25.0
    bench_report.add_ratios(records)
    assert records[0]["ratio_vs_reference"] == pytest.approx(100.0)
    assert records[4]["ratio_vs_reference"] is None  # no reference at 1M
    items = bench_report.targets(records, {"import": {"import_s": 0.1, "heavy_modules": []}})
    status = {t["name"]: t["status"] for t in items}
    assert status["engine / reference agent-steps/s at N=10,000"] == "PASS"
    assert status["engine / reference agent-steps/s at N=100,000"] == "FAIL"
    assert by_name(items, "N=1,000,000: build")["status"] == "FAIL"  # 20 + 50 s
    assert by_name(items, "N=1,000,000: peak")["status"] == "PASS"
    assert by_name(items, "spread step")["status"] == "PASS"
    assert by_name(items, "spread final")["status"] == "PASS"
    assert by_name(items, "build a 100,000")["status"] == "FAIL"
    assert by_name(items, "import sim")["status"] == "PASS"
    exponent = by_name(items, "cost exponent")
    assert exponent["value"] == pytest.approx(1.0) and exponent["status"] == "PASS"


def test_targets_skip_or_fail_what_is_missing():
    records = [
        made_up("engine", 1_000_000, 2.0, status="timeout", timeout_s=900.0),
        made_up("engine", 10_000, 100.0),
        bench_report.empty_record("reference", 10_000, status="unavailable"),
    ]
    checks = {"import": {"import_s": 0.2, "heavy_modules": ["solara"]}}
    items = bench_report.targets(records, checks)
    assert by_name(items, "N=1,000,000: build")["status"] == "FAIL"
    assert "timed out" in by_name(items, "N=1,000,000: build")["detail"]
    ratio = by_name(items, "engine / reference agent-steps/s at N=10,000")
    assert ratio["status"] == "SKIP" and "unavailable" in ratio["detail"]
    assert by_name(items, "import sim")["status"] == "FAIL"  # solara loaded
    assert by_name(items, "spread step")["status"] == "SKIP"
    assert by_name(items, "cost exponent")["status"] == "SKIP"
