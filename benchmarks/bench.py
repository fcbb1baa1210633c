"""One benchmark command: the engine against a plain-Mesa reference, Mesa's VirusOnNetwork
example and EoN, and the command line's start-up, with the targets they are meant to meet.

    python benchmarks/bench.py --json bench.json     # the full run (minutes)
    python benchmarks/bench.py --quick                # N = 10,000 only (under 2 minutes)
    python benchmarks/bench.py --only huge            # N = 10,000,000 for 20 steps

Each (implementation, N) is measured ``--repeats`` times, each in a fresh subprocess
(``benchmarks/bench_worker.py``), so its peak RSS is its own; the implementations take turns
(engine, reference, virus, engine, ...), so a ratio compares runs made under the same load.
See the README's "Benchmarks" section.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_print, bench_run, bench_stats  # noqa: E402
from benchmarks import bench_report as report  # noqa: E402
from benchmarks.bench_machine import machine  # noqa: E402
from benchmarks.bench_measure import DEGREE, import_check, model_record, spread_records  # noqa: E402
from benchmarks.bench_startup import startup_check  # noqa: E402

#: Parameter groups passed to ``sim.Ecosystem`` in every engine run (1M included), on top
#: of ``population.n_agents`` and ``seed``. Empty: the engine's defaults.
ENGINE_GROUPS: dict[str, dict] = {}

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (10_000,)
STEPS = 100
REPEATS = 3
GROUPS = ("engine", "reference", "virus", "spread", "large", "import", "startup", "huge")
#: ``huge`` (N = 10,000,000: minutes, about 10x the 1,000,000 run's memory) runs only when
#: asked for (``--huge`` or ``--only huge``), once: it is a completion check, not a ratio.
DEFAULT_GROUPS = tuple(g for g in GROUPS if g != "huge")
QUICK_GROUPS = ("engine", "reference", "virus")
REFERENCE = "benchmarks.reference:ReferenceModel"
BUDGET_S, QUICK_BUDGET_S = 30.0, 10.0  # run time after which reference/virus stop early
TIMEOUT_S = 900.0  # per subprocess
SPREAD_N, SPREAD_P = 1_000_000, 0.25  # R0 = 6 p = 1.5


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
    parser.add_argument(
        "--repeats",
        type=_positive(int),
        default=REPEATS,
        help=f"measurements of each (implementation, N), interleaved ({REPEATS})",
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help=f"add the N = {report.HUGE_N:,} run ({report.HUGE_STEPS} steps, minutes)",
    )
    test = parser.add_argument_group("options for testing (override the plan)")
    test.add_argument("--sizes", type=_sizes, help="N for engine/reference/virus: 1000,10000")
    test.add_argument("--steps", type=_positive(int), help=f"steps per model run ({STEPS})")
    test.add_argument("--only", type=_groups, help=f"groups to run: {','.join(GROUPS)}")
    test.add_argument("--large-n", type=_positive(int), default=report.LARGE_N, help="N of 'large'")
    test.add_argument("--huge-n", type=_positive(int), default=report.HUGE_N, help="N of 'huge'")
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
    args.only = args.only or (QUICK_GROUPS if args.quick else DEFAULT_GROUPS)
    if args.huge and "huge" not in args.only:
        args.only = (*args.only, "huge")
    args.steps = args.steps or STEPS
    args.budget = args.budget or (QUICK_BUDGET_S if args.quick else BUDGET_S)
    return args


# ----------------------------------------------------------------------------- main
def plan(args) -> list[tuple[str, object]]:
    """(label, thunk) per measurement, in the order they run: at each N, round after round
    of engine, reference, virus (one repeat of each per round)."""
    jobs: list[tuple[str, object]] = []
    if "import" in args.only:
        jobs.append(("import sim", lambda: ("import", import_check(args))))
    if "startup" in args.only:
        repeats = max(args.repeats, 3)  # the targets are medians of >= 3 fresh processes
        label = f"startup: python -m sim --help / python -m sim, x{repeats}"
        jobs.append((label, lambda: ("startup", startup_check(ROOT, repeats, args.timeout))))
    extras = {
        "engine": {"groups": ENGINE_GROUPS},
        "reference": {"groups": {}},
        "virus": {"degree": DEGREE},
    }
    for n in args.sizes:
        for rep in range(args.repeats):
            for impl in ("engine", "reference", "virus"):
                if impl not in args.only:
                    continue
                extra = dict(extras[impl])
                if impl == "virus":
                    extra["outbreak"] = max(1, n // 100)
                    extra["graph"] = "nx.fast_gnp_random_graph in place of nx.erdos_renyi_graph"
                job = partial(model_record, impl, n, args, extra)
                jobs.append((f"{impl} N={n:,} #{rep + 1}", _repeat(rep, job)))
    for rep in range(args.repeats):
        if "spread" in args.only:
            label = f"spread vs EoN N={args.spread_n:,} #{rep + 1}"
            jobs.append((label, _repeat(rep, partial(spread_records, args))))
        if "large" in args.only:
            job = partial(model_record, "engine", args.large_n, args, {"groups": ENGINE_GROUPS})
            jobs.append((f"engine N={args.large_n:,} #{rep + 1}", _repeat(rep, job)))
    if "huge" in args.only:
        job = partial(
            model_record,
            "engine",
            args.huge_n,
            args,
            {"groups": ENGINE_GROUPS},
            steps=report.HUGE_STEPS,
        )
        jobs.append((f"engine N={args.huge_n:,} x {report.HUGE_STEPS} steps", _repeat(0, job)))
    return jobs


def _repeat(rep: int, job):
    """``job``, its record(s) marked as repeat ``rep`` with the load at its start."""

    def run():
        load = os.getloadavg()[0]
        warning = bench_print.load_warning(load, os.cpu_count() or 1)
        if warning:
            print(f"      {warning}", file=sys.stderr, flush=True)
        result = job()
        for record in result if isinstance(result, list) else [result]:
            record.update(repeat=rep, load_1min=load)
        return result

    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repeats: list[dict] = []
    checks: dict = {}
    jobs = plan(args)
    for k, (label, job) in enumerate(jobs, 1):
        print(f"[{k}/{len(jobs)}] {label} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = job()
        if isinstance(result, tuple):
            checks[result[0]] = result[1]
        else:
            repeats.extend(result if isinstance(result, list) else [result])
        print(f"      {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    records = bench_stats.aggregate(repeats)
    report.add_ratios(records)
    goals = report.targets(records, checks)
    loads = [r["load_1min"] for r in repeats]
    for check in (checks.get("startup") or {}).values():
        loads += check["load_1min"]
    print(bench_print.table(records))
    print("\n" + bench_print.load_lines(loads, os.cpu_count() or 1))
    print("\ntargets:")
    print(bench_print.target_lines(goals))
    if args.json:
        payload = {
            "records": records,
            "targets": goals,
            "checks": checks,
            "machine": machine(ROOT),
            "plan": {
                "sizes": list(args.sizes),
                "steps": args.steps,
                "repeats": args.repeats,
                "order": "round-robin: at each N, one repeat of each implementation per round",
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
