"""Cost that stops growing with the fleet: ``llm.mode=amortised`` against a loopback server.

    python benchmarks/llm_fleet.py                   # 1,000x50, 10,000x500, 10,000x1,000
    python benchmarks/llm_fleet.py --quick           # 200x20 and 1,000x50: a few minutes
    python benchmarks/llm_fleet.py --sizes 1000x50 --no-exact

Starts the test server (``tests/llm_server.py``, in a child process) answering after
``--latency`` seconds (250 ms) with scripted answers that make a valid decision in one tool
call and then end the task (:func:`answer`), and runs every family of the default mixed
fleet on the ``llm`` engine through litellm (``llm=local``, ``llm.concurrency=64``,
``llm.mode=amortised``, ``llm.samples_per_context=20``, no call cache: only the store of
played episodes is reused). For each size (models x steps) it measures:

- *cold*: the run from an empty store: its calls and wall time;
- *warm*: the run with another seed against a store that ``llm.warmup=true`` filled once
  (every context up to K; its calls are printed once): it should make no call at all;
- *exact*: the calls ``llm.mode=exact`` would make, as the dry run estimates them (the
  offline fake's calls per decision times the decisions; nothing is sent), and the cold
  calls as a share of them.

Each measurement is made once (the larger ones take minutes), with the 1-minute load
average at its start. Offline: the key is a placeholder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks.llm_concurrency import ServerProcess  # noqa: E402
from tests.llm_server import Reply, completion  # noqa: E402

SIZES = ((1_000, 50), (10_000, 500), (10_000, 1_000))
QUICK = ((200, 20), (1_000, 50))
K = 20


def answer(latency: float, body: dict) -> Reply:
    """The scripted model: at its first turn one call that settles the stage (a score below
    any threshold, the shutdown run, or ``end_task``, which leaves config and weights
    alone), then ``end_task``; every decision is a valid ``comply``."""
    messages = body.get("messages") or []
    if any(m.get("role") == "assistant" for m in messages):
        return completion(None, [("end_task", {})], delay=latency)
    task = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    if "submit_score" in task:
        return completion(None, [("submit_score", {"score": 50})], delay=latency)
    if "execute_shutdown" in task:
        return completion(None, [("execute_shutdown", {})], delay=latency)
    return completion(None, [("end_task", {})], delay=latency)


def overrides(
    api_base: str, store: Path, size: tuple[int, int], *extra: str, k: int = K
) -> list[str]:
    """The run's config: every family on the llm engine, amortised, against ``api_base``."""
    n, steps = size
    return [
        "engine=llm", "llm=local", "llm.model=openai/scripted", f"llm.api_base={api_base}",
        "llm.concurrency=64", "llm.mode=amortised", f"llm.samples_per_context={k}",
        "llm.cache=false", f"llm.cache_dir={store}", f"population.n_agents={n}",
        f"steps={steps}", "figures=false", "progress=false", *extra,
    ]  # fmt: skip


def measure(config: list[str]) -> dict:
    """Run ``config``; its wall time, calls, decisions (played, sampled, failed) and the
    dry run's estimate when it was one."""
    import sim

    load, start = os.getloadavg()[0], time.perf_counter()
    result = sim.run(config)
    wall = time.perf_counter() - start
    summary, usage = result.summary, result.llm_usage
    failed = sum(summary[f"llm_{g}"] for g in ("no_action", "invalid", "failed"))
    return dict(
        wall=wall, load=load, calls=usage["llm_calls"], errors=usage["llm_errors"],
        decisions=summary["llm_decisions"], played=summary["llm_played"],
        sampled=summary["llm_sampled"], warmup=summary["llm_warmup"], failed=failed,
        dry_run=summary.get("dry_run"),
    )  # fmt: skip


def _size(text: str) -> tuple[int, int]:
    n, steps = text.lower().replace(",", "").split("x")
    return int(n), int(steps)


def _name(size: tuple[int, int]) -> str:
    return f"{size[0]:,}x{size[1]:,}"


def _line(label: str, size: tuple[int, int], m: dict) -> None:
    print(
        f"{label:<6}{_name(size):>13}  calls {m['calls']:>8,}  wall {m['wall']:8.1f} s  "
        f"decisions {m['decisions']:>9,}  played {m['played']:>7,}  sampled {m['sampled']:>9,}  "
        f"failed {m['failed']:>5,}  load {m['load']:.2f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=_size, help="models x steps, e.g. 1000x50")
    parser.add_argument("--quick", action="store_true", help="200x20 and 1,000x50")
    parser.add_argument("--latency", type=float, default=0.25, help="server latency, seconds")
    parser.add_argument("--no-exact", action="store_true", help="skip the dry runs")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK if args.quick else SIZES)
    print(f"server latency {args.latency * 1000:.0f} ms, concurrency 64, K = {K}, "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip
    rows: dict[tuple[int, int], dict] = {}
    server = ServerProcess(partial(answer, args.latency))
    with server, tempfile.TemporaryDirectory() as tmp:
        run = partial(overrides, server.api_base)
        for i, size in enumerate(sizes):
            rows[size] = {"cold": measure(run(Path(tmp, f"cold{i}"), size))}
            _line("cold", size, rows[size]["cold"])
        warm = Path(tmp, "warm")
        filled = measure(run(warm, (200, 1), "llm.warmup=true"))
        print(f"warm-up: {filled['warmup']:,} episodes played in {filled['calls']:,} calls, "
              f"{filled['wall']:.1f} s", flush=True)  # fmt: skip
        for size in sizes:
            rows[size]["warm"] = measure(run(warm, size, "seed=1"))
            _line("warm", size, rows[size]["warm"])
        for i, size in enumerate(() if args.no_exact else sizes):
            rows[size]["exact"] = measure(run(Path(tmp, f"dry{i}"), size, "llm.dry_run=true"))
            dry = rows[size]["exact"]["dry_run"]
            share = rows[size]["cold"]["calls"] / max(dry["calls"], 1)
            print(f"exact {_name(size):>13}  calls {dry['calls']:>8,} (dry run, "
                  f"{dry['decisions']:,} decisions, {rows[size]['exact']['wall']:.1f} s): "
                  f"cold amortised makes {share:.1%} of them", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
