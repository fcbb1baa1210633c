"""The benchmark harness (benchmarks/bench.py) at tiny sizes: record schema, one record per
(implementation, N) keeping every repeat, the round-robin order, clear errors for bad
arguments, the EoN-missing and timeout paths, the start-up check, and the medians, ranges,
ratios, load warnings and targets computed from made-up records. Nothing here times
anything."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_print, bench_report, bench_startup, bench_stats

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
        "--sizes", "300", "--steps", "3", "--only", "engine,reference,virus", "--repeats", "2",
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout, done.stderr


def test_tiny_run_writes_the_schema(tiny):
    payload, stdout, _ = tiny
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
    for record in records:
        assert record["n_repeats"] == 2 and [r["repeat"] for r in record["repeats"]] == [0, 1]
        rates = [r["agent_steps_per_s"] for r in record["repeats"]]
        assert record["agent_steps_per_s"] == pytest.approx(sum(rates) / 2)  # median of two
        assert record["range"]["agent_steps_per_s"] == [min(rates), max(rates)]
        assert all(load >= 0 for load in record["load_1min"]) and len(record["load_1min"]) == 2
    assert payload["plan"]["repeats"] == 2
    assert "ratio_vs_reference" in bench_report.find(records, "engine", 300)
    for target in payload["targets"]:
        assert target["status"] in ("PASS", "FAIL", "SKIP") and target["name"]
    assert payload["machine"]["cpus"] >= 1
    assert "agent-steps/s" in stdout and "targets:" in stdout
    assert "load: 1-minute average at the start of 6 measurements" in stdout


def test_tiny_run_takes_turns(tiny):
    """Round-robin: one repeat of each implementation, then the next round."""
    labels = [line.split("] ", 1)[1] for line in tiny[2].splitlines() if line.startswith("[")]
    assert labels == [
        f"{impl} N=300 #{k} ..." for k in (1, 2) for impl in ("engine", "reference", "virus")
    ]


@pytest.mark.skipif(REFERENCE_MISSING, reason="benchmarks/reference.py not written yet")
def test_tiny_run_compares_with_the_reference(tiny):
    records = tiny[0]["records"]
    reference = bench_report.find(records, "reference", 300)
    assert reference["status"] == "ok", reference
    assert reference["steps"] == 3 and reference["time_series_rows"] == 4
    engine = bench_report.find(records, "engine", 300)
    pairs = [
        e["agent_steps_per_s"] / r["agent_steps_per_s"]
        for e, r in zip(engine["repeats"], reference["repeats"], strict=True)
    ]
    assert engine["ratio_range"] == pytest.approx([min(pairs), max(pairs)])
    # A ratio of two-repeat medians is a mediant of the pairs' ratios: inside their range.
    assert min(pairs) <= engine["ratio_vs_reference"] <= max(pairs)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--sizes", "abc"], "--sizes"),
        (["--sizes", "0"], "--sizes"),
        (["--only", "engine,nope"], "--only"),
        (["--steps", "-2"], "--steps"),
        (["--repeats", "0"], "--repeats"),
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


# ------------------------------------------------------------------- start-up, for real
def test_startup_check_times_fresh_processes(monkeypatch):
    monkeypatch.setattr(bench_startup, "COMMANDS", {"help": ["--help"], "bad": ["steps=-1"]})
    got = bench_startup.startup_check(ROOT, repeats=1, timeout=120)
    help_ = got["help"]
    assert help_["n"] == 1 and help_["median"] == help_["min"] == help_["times"][0] > 0
    assert len(help_["load_1min"]) == 1 and "note" not in help_
    # Its CPU time: some, and at most what every core, busy, gives in its wall time.
    assert 0 < help_["cpu_times"][0] <= (os.cpu_count() or 1) * help_["times"][0]
    assert help_["cpu"]["median"] == help_["cpu_times"][0]
    bad = got["bad"]  # exit status 2: no time, and why
    assert bad["times"] == [] == bad["cpu_times"] and "median" not in bad and not bad["cpu"]
    assert bad["note"].startswith("exit status 2: Invalid config: steps")


# ------------------------------------------------------------------- targets, made up
def made_up(impl, n, steps_per_s, build_s=1.0, steps=100, status="ok", repeat=0, **extra):
    record = bench_report.empty_record(impl, n, steps_requested=steps, **extra)
    record.update(steps=steps, build_s=build_s, run_s=steps / steps_per_s, status=status)
    record.update(repeat=repeat, load_1min=0.1)
    return bench_report.fill_rates(record)


def by_name(items, start):
    (item,) = [t for t in items if t["name"].startswith(start)]
    return item


def test_repeats_give_medians_ranges_and_paired_ratios():
    repeats = [
        made_up("engine", 10_000, 100.0, build_s=1.0, repeat=0),
        made_up("reference", 10_000, 2.0, repeat=0),  # pair: 50x
        made_up("engine", 10_000, 90.0, build_s=3.0, repeat=1, peak_rss_mb=200.0),
        made_up("reference", 10_000, 1.0, repeat=1),  # pair: 90x
        made_up("engine", 10_000, 120.0, build_s=2.0, repeat=2, peak_rss_mb=100.0),
        made_up("reference", 10_000, 1.5, repeat=2),  # pair: 80x
    ]
    records = bench_stats.aggregate(repeats)
    assert [(r["impl"], r["n_repeats"]) for r in records] == [("engine", 3), ("reference", 3)]
    engine, reference = records
    assert engine["steps_per_s"] == 100.0 and engine["agent_steps_per_s"] == 1_000_000.0
    assert engine["range"]["steps_per_s"] == [90.0, 120.0]
    assert engine["build_s"] == 2.0 and engine["range"]["build_s"] == [1.0, 3.0]
    assert engine["peak_rss_mb"] == 200.0 and engine["load_1min"] == [0.1] * 3
    assert [r["repeat"] for r in engine["repeats"]] == [0, 1, 2]
    bench_report.add_ratios(records)
    assert engine["ratio_vs_reference"] == pytest.approx(100.0 / 1.5)  # ratio of medians
    assert engine["ratio_range"] == pytest.approx([50.0, 90.0])
    assert reference["ratio_vs_reference"] is None
    line = bench_print.table(records).splitlines()[2]
    assert "66.7x (50.0-90.0)" in line and "1,000,000 (900,000-1,200,000)" in line


def test_failed_repeats_are_left_out_and_named():
    repeats = [
        made_up("engine", 1_000, 10.0, repeat=0),
        made_up("engine", 1_000, 10.0, repeat=1, status="error", note="boom"),
        made_up("engine", 1_000, 30.0, repeat=2),
    ]
    (record,) = bench_stats.aggregate(repeats)
    assert record["status"] == "ok" and record["n_repeats"] == 2
    assert record["steps_per_s"] == 20.0 and record["note"] == "1 of 3 repeats error: boom"
    (none_ok,) = bench_stats.aggregate([repeats[1]])
    assert none_ok["status"] == "error" and none_ok["n_repeats"] == 0


def test_load_warnings():
    assert bench_print.load_warning(0.9, cpus=2) is None
    assert bench_print.load_warning(1.1, cpus=2).startswith("warning: 1-minute load average 1.10")
    assert bench_print.load_warning(1.1, cpus=4) is None
    text = bench_print.load_lines([0.5, 1.5, 2.5], cpus=2)
    assert "median 1.50 (range 0.50-2.50) on 2 cores" in text
    assert "warning: 2 of 3 measurements started above 1" in text
    assert "warning" not in bench_print.load_lines([0.5], cpus=2)


def test_targets_from_made_up_records():
    small_ok = bench_report.SMALL_FACTOR * bench_report.BASELINE_RATIO_1K * 1.01
    repeats = [
        made_up("engine", 1_000, small_ok),
        made_up("reference", 1_000, 1.0),
        made_up("engine", 10_000, 100.0),
        made_up("reference", 10_000, 1.0),  # 100x
        made_up("engine", 100_000, 10.0, build_s=6.0),
        made_up("reference", 100_000, 0.5, steps=10),  # 20x
        made_up("engine", 1_000_000, 10.0, build_s=4.0, peak_rss_mb=2000.0),  # 14 s
        made_up("engine", 10_000_000, 1.0, build_s=100.0, steps=20, peak_rss_mb=20_000.0),
        made_up("engine-spread", 1_000_000, 10.0, final_size=0.58, theory_final_size=0.583),
        made_up("eon-sir", 1_000_000, 0.25, final_size=0.59),  # 40x per step
    ]
    for record in repeats[-2:]:
        record["time_per_step_s"] = record["run_s"] / record["steps"]
    records = bench_stats.aggregate(repeats)
    bench_report.add_ratios(records)
    assert bench_report.find(records, "engine", 10_000)["ratio_vs_reference"] == 100.0
    assert bench_report.find(records, "engine", 1_000_000)["ratio_vs_reference"] is None
    checks = {
        "import": {"import_s": 0.1, "heavy_modules": []},
        "startup": {"help": bench_stats.spread([0.8, 0.9, 1.2]), "run": bench_stats.spread([2.5])},
    }
    items = bench_report.targets(records, checks)
    status = {t["name"]: t["status"] for t in items}
    assert status["engine / reference agent-steps/s at N=10,000"] == "PASS"
    assert status["engine / reference agent-steps/s at N=100,000"] == "FAIL"
    assert status["engine / reference agent-steps/s at N=1,000"] == "PASS"
    assert by_name(items, "N=1,000,000: build")["display"] == "14.0 s"
    assert by_name(items, "N=1,000,000: build")["status"] == "PASS"
    assert by_name(items, "N=1,000,000: peak")["status"] == "PASS"  # 1.95 GiB
    huge = by_name(items, "N=10,000,000: build")
    assert huge["status"] == "PASS" and huge["display"] == "120.0 s"
    assert by_name(items, "N=10,000,000: peak")["display"] == "19.53 GiB"
    spread = by_name(items, "spread step")
    assert spread["status"] == "PASS" and spread["value"] == pytest.approx(40.0)
    assert by_name(items, "spread final")["status"] == "PASS"
    assert by_name(items, "build a 100,000")["status"] == "FAIL"
    assert by_name(items, "import sim")["status"] == "PASS"
    help_ = by_name(items, "`python -m sim --help`")
    assert help_["status"] == "PASS" and help_["display"].startswith("0.90 s (median of 3")
    assert by_name(items, "`python -m sim` (200")["status"] == "FAIL"
    exponent = by_name(items, "cost exponent")
    assert exponent["value"] == pytest.approx(1.0) and exponent["status"] == "PASS"


def test_targets_skip_or_fail_what_is_missing():
    repeats = [
        made_up("engine", 1_000_000, 2.0, status="timeout", timeout_s=900.0),
        made_up("engine", 10_000, 100.0),
        made_up("engine", 1_000, 1.0),
        made_up("reference", 1_000, 1.0),  # 1x: below the N = 1,000 target
        bench_report.empty_record("reference", 10_000, status="unavailable"),
    ]
    records = bench_stats.aggregate(repeats)
    bench_report.add_ratios(records)
    checks = {"import": {"import_s": 0.2, "heavy_modules": ["solara"]}}
    items = bench_report.targets(records, checks)
    assert by_name(items, "N=1,000,000: build")["status"] == "FAIL"
    assert "timed out" in by_name(items, "N=1,000,000: build")["detail"]
    ratio = by_name(items, "engine / reference agent-steps/s at N=10,000")
    assert ratio["status"] == "SKIP" and "unavailable" in ratio["detail"]
    assert by_name(items, "engine / reference agent-steps/s at N=1,000")["status"] == "FAIL"
    assert by_name(items, "N=10,000,000: build")["status"] == "SKIP"
    assert by_name(items, "import sim")["status"] == "FAIL"  # solara loaded
    assert by_name(items, "spread step")["status"] == "SKIP"
    assert by_name(items, "`python -m sim --help`")["status"] == "SKIP"
    assert by_name(items, "cost exponent")["status"] == "SKIP"


# ------------------------------------------------------------------- the plan
def test_the_plan_runs_huge_only_when_asked():
    from benchmarks import bench

    quick = [label for label, _ in bench.plan(bench.parse_args(["--quick"]))]
    assert quick == [
        f"{impl} N=10,000 #{k}" for k in (1, 2, 3) for impl in ("engine", "reference", "virus")
    ]
    full = [label for label, _ in bench.plan(bench.parse_args([]))]
    assert not any("10,000,000" in label for label in full)
    assert sum(label.startswith("engine N=1,000,000 #") for label in full) == 3
    assert any(label.startswith("startup:") for label in full)
    for argv in (["--huge"], ["--only", "huge"]):
        labels = [label for label, _ in bench.plan(bench.parse_args(argv))]
        assert labels[-1] == "engine N=10,000,000 x 20 steps"
        assert sum("10,000,000" in label for label in labels) == 1
