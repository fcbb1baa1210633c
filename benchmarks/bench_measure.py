"""The measurements of ``bench.py``: one record per fresh process (a *repeat*), from its
arguments; the process itself is ``benchmarks/bench_worker.py``."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

from benchmarks import bench_report as report
from benchmarks import bench_run

__all__ = ["DEGREE", "import_check", "model_record", "spread_records"]

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
DEGREE = 6
SPREAD_INITIAL = 10
HUGE_TIMEOUT_S = 3600.0  # per process, for N >= report.HUGE_N (minutes to build)


def model_record(impl: str, n: int, args, extra: dict, steps: int | None = None) -> dict:
    steps = steps or args.steps
    record = report.empty_record(impl, n, steps_requested=steps, steps_reduced=False, **extra)
    if impl == "reference":
        module = args.reference.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            record.update(status="unavailable", note=f"{module} not importable")
            return record
    spec = {"kind": "model", "impl": impl, "n_agents": n, "steps": steps, "seed": SEED}
    spec.update({k: v for k, v in extra.items() if k in ("groups", "degree", "outbreak")})
    if impl == "reference":
        spec["reference"] = args.reference
    if impl != "engine":
        spec["budget_s"] = args.budget
    timeout = HUGE_TIMEOUT_S if n >= report.HUGE_N else args.timeout
    status, phases, err = bench_run.run_worker(ROOT, spec, timeout)
    got = bench_run.merged(phases)
    for key in ("build_s", "run_s", "steps", "peak_rss_mb", "time_series_rows"):
        if key in got:
            record[key] = got[key]
    record["status"] = status
    record["timeout_s"] = timeout
    if status == "timeout":
        done = f", {record['steps']} steps done" if record["steps"] else ", still building"
        record["note"] = f"after {timeout:g} s{done}"
    elif status == "error":
        record["note"] = err
    if status == "ok" and record["steps"] is not None and record["steps"] < steps:
        record["steps_reduced"] = True
        record["note"] = f"steps reduced: {record['steps']} of {steps} in {args.budget:g} s"
    return report.fill_rates(record)


def spread_records(args) -> list[dict]:
    n, p = args.spread_n, args.spread_p
    spec = {"kind": "spread", "n_agents": n, "degree": DEGREE, "p": p, "initial": SPREAD_INITIAL}
    status, phases, err = bench_run.run_worker(ROOT, {**spec, "seed": SEED}, args.timeout)
    got = bench_run.merged(phases)
    theory = _sir_final_size(DEGREE * p)
    common = {
        "p": p,
        "mean_degree": DEGREE,
        "initial_infected": SPREAD_INITIAL,
        "graph": "nx.fast_gnp_random_graph (built once, untimed)",
        "graph_build_s": got.get("graph_build_s"),
        "theory_final_size": theory,
        "rss_note": "one process for both: peak RSS is shared",
    }
    records = []
    for impl, phase in (("engine-spread", "engine"), ("eon-sir", "eon")):
        record = report.empty_record(impl, n, **common)
        data = next((x for x in phases if x.get("phase") == phase), None)
        if data:
            for key in ("build_s", "run_s", "steps", "peak_rss_mb", "final_size", "eon_version"):
                if key in data:
                    record[key] = data[key]
            if record["steps"]:
                record["time_per_step_s"] = record["run_s"] / record["steps"]
        elif impl == "eon-sir" and got.get("eon"):
            record.update(status="skipped", note=got["eon"])
        else:
            record["status"] = status if status != "ok" else "error"
            record["note"] = f"after {args.timeout:g} s" if status == "timeout" else err
        records.append(report.fill_rates(record))
    return records


def _sir_final_size(r0: float) -> float:
    """Final size r = 1 - exp(-R0 r) of an SIR outbreak on an Erdős–Rényi graph."""
    r = 0.5
    for _ in range(200):
        r = 1.0 - math.exp(-r0 * r)
    return r


def import_check(args) -> dict:
    status, phases, err = bench_run.run_worker(ROOT, {"kind": "import"}, min(args.timeout, 120.0))
    got = bench_run.merged(phases)
    got.pop("phase", None)
    return got if status == "ok" else {"note": f"{status}: {err}"}
