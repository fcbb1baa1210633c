"""One benchmark command: the engine against a plain-Mesa reference, Mesa's VirusOnNetwork
example and EoN, with the targets the engine is meant to meet.

    python benchmarks/bench.py --json bench.json     # the full run (minutes)
    python benchmarks/bench.py --quick                # N = 10,000 only (under 90 s)

Each (implementation, N) is measured in a fresh subprocess (``benchmarks/bench_worker.py``),
one after another, so its peak RSS is its own. See the README's "Benchmarks" section.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_report as report  # noqa: E402
from benchmarks import bench_run  # noqa: E402
from benchmarks.bench_machine import machine  # noqa: E402

#: Parameter groups passed to ``sim.Ecosystem`` in every engine run (1M included), on top
#: of ``population.n_agents`` and ``seed``. Empty: the engine's defaults.
ENGINE_GROUPS: dict[str, dict] = {}

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (10_000,)
STEPS = 100
SEED = 0
DEGREE = 6
GROUPS = ("engine", "reference", "virus", "spread", "large", "import")
QUICK_GROUPS = ("engine", "reference", "virus")
REFERENCE = "benchmarks.reference:ReferenceModel"
BUDGET_S, QUICK_BUDGET_S = 30.0, 10.0  # run time after which reference/virus stop early
TIMEOUT_S = 900.0  # per subprocess
SPREAD_N, SPREAD_P, SPREAD_INITIAL = 1_000_000, 0.25, 10  # R0 = 6 p = 1.5
EON_MISSING = "skipped: pip install -e .[bench]"


# ----------------------------------------------------------------------------- arguments
def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1 (1000,10000), got {text!r}")
    return sizes


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
        return value

    return parse


def _groups(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    bad = [s for s in names if s not in GROUPS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown group {', '.join(map(repr, bad)) or '(none)'} in {text!r} "
            f"(choose from {', '.join(GROUPS)})"
        )
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--json", metavar="FILE", help="write the records and targets here")
    parser.add_argument(
        "--quick", action="store_true", help="N = 10,000 only: engine, reference, virus"
    )
    test = parser.add_argument_group("options for testing (override the plan)")
    test.add_argument("--sizes", type=_sizes, help="N for engine/reference/virus: 1000,10000")
    test.add_argument("--steps", type=_positive(int), help=f"steps per model run ({STEPS})")
    test.add_argument("--only", type=_groups, help=f"groups to run: {','.join(GROUPS)}")
    test.add_argument("--large-n", type=_positive(int), default=report.LARGE_N, help="N of 'large'")
    test.add_argument("--spread-n", type=_positive(int), default=SPREAD_N, help="graph of 'spread'")
    test.add_argument("--spread-p", type=_positive(float), default=SPREAD_P, help="SIR p")
    test.add_argument("--budget", type=_positive(float), help="reference/virus run budget, s")
    test.add_argument("--timeout", type=_positive(float), default=TIMEOUT_S, help="per process, s")
    test.add_argument("--reference", default=REFERENCE, help="MODULE:CLASS of the reference")
    args = parser.parse_args(argv)
    if args.spread_p > 1:
        parser.error(f"argument --spread-p: expected a probability <= 1, got {args.spread_p}")
    if ":" not in args.reference:
        parser.error(f"argument --reference: expected MODULE:CLASS, got {args.reference!r}")
    if args.json:
        folder = Path(args.json).resolve().parent
        if not folder.is_dir():
            parser.error(f"argument --json: folder {str(folder)!r} does not exist")
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    args.only = args.only or (QUICK_GROUPS if args.quick else GROUPS)
    args.steps = args.steps or STEPS
    args.budget = args.budget or (QUICK_BUDGET_S if args.quick else BUDGET_S)
    return args


# ----------------------------------------------------------------------------- measurements
def model_record(impl: str, n: int, args, extra: dict) -> dict:
    record = report.empty_record(impl, n, steps_requested=args.steps, steps_reduced=False, **extra)
    if impl == "reference":
        module = args.reference.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            record.update(status="unavailable", note=f"{module} not importable")
            return record
    spec = {"kind": "model", "impl": impl, "n_agents": n, "steps": args.steps, "seed": SEED}
    spec.update({k: v for k, v in extra.items() if k in ("groups", "degree", "outbreak")})
    if impl == "reference":
        spec["reference"] = args.reference
    if impl != "engine":
        spec["budget_s"] = args.budget
    status, phases, err = bench_run.run_worker(ROOT, spec, args.timeout)
    got = bench_run.merged(phases)
    for key in ("build_s", "run_s", "steps", "peak_rss_mb", "time_series_rows"):
        if key in got:
            record[key] = got[key]
    record["status"] = status
    record["timeout_s"] = args.timeout
    if status == "timeout":
        done = f", {record['steps']} steps done" if record["steps"] else ", still building"
        record["note"] = f"after {args.timeout:g} s{done}"
    elif status == "error":
        record["note"] = err
    if status == "ok" and record["steps"] is not None and record["steps"] < args.steps:
        record["steps_reduced"] = True
        record["note"] = f"steps reduced: {record['steps']} of {args.steps} in {args.budget:g} s"
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
    eng, eon = records
    if eng.get("time_per_step_s") and eon.get("time_per_step_s"):
        eng["ratio_vs_reference"] = eon["time_per_step_s"] / eng["time_per_step_s"]
        eng["reference_impl"] = "eon-sir"
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


# ----------------------------------------------------------------------------- main
def plan(args) -> list[tuple[str, object]]:
    """(label, thunk) per measurement, in the order they run."""
    jobs: list[tuple[str, object]] = []
    if "import" in args.only:
        jobs.append(("import sim", lambda: ("import", import_check(args))))
    extras = {
        "engine": {"groups": ENGINE_GROUPS},
        "reference": {"groups": {}},
        "virus": {"degree": DEGREE},
    }
    for impl in ("engine", "reference", "virus"):
        if impl not in args.only:
            continue
        for n in args.sizes:
            extra = dict(extras[impl])
            if impl == "virus":
                extra["outbreak"] = max(1, n // 100)
                extra["graph"] = "nx.fast_gnp_random_graph in place of nx.erdos_renyi_graph"
            job = partial(model_record, impl, n, args, extra)
            jobs.append((f"{impl} N={n:,}", job))
    if "spread" in args.only:
        jobs.append((f"spread vs EoN N={args.spread_n:,}", lambda: spread_records(args)))
    if "large" in args.only:
        jobs.append(
            (
                f"engine N={args.large_n:,}",
                lambda: model_record("engine", args.large_n, args, {"groups": ENGINE_GROUPS}),
            )
        )
    return jobs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    records: list[dict] = []
    checks: dict = {}
    jobs = plan(args)
    for k, (label, job) in enumerate(jobs, 1):
        print(f"[{k}/{len(jobs)}] {label} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = job()
        if isinstance(result, tuple):
            checks[result[0]] = result[1]
        else:
            records.extend(result if isinstance(result, list) else [result])
        print(f"      {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    report.add_ratios(records)
    goals = report.targets(records, checks)
    print(report.table(records))
    print("\ntargets:")
    print(report.target_lines(goals))
    if args.json:
        payload = {
            "records": records,
            "targets": goals,
            "checks": checks,
            "machine": machine(ROOT),
            "plan": {
                "sizes": list(args.sizes),
                "steps": args.steps,
                "groups": list(args.only),
                "budget_s": args.budget,
                "timeout_s": args.timeout,
                "engine_groups": ENGINE_GROUPS,
                "quick": args.quick,
            },
        }
        bench_run.write_json(args.json, payload)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
