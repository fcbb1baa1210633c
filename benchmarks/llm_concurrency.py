"""How much concurrent calls buy: LiteLLMModel against a loopback server with fixed latency.

    python benchmarks/llm_concurrency.py            # 512 requests at concurrency 1 and 64, 3 rounds
    python benchmarks/llm_concurrency.py --quick    # 32 at concurrency 1, scaled up to 512

Starts the test server (``tests/llm_server.py``, in a child process so that it does not
compete with the client for the interpreter lock) answering after ``--latency`` seconds, runs
``--requests`` requests through ``Concurrency(LiteLLMModel(), limit)`` at concurrency 1 and
at ``--concurrency``, taking turns for ``--repeats`` rounds (so the two runs of a round
share the machine's load), and prints the median wall times, the speed-up (the median of
the rounds' ratios, with their min-max; the target is 40x or more at 250 ms latency), the
client's CPU time per call and its full garbage collections (each a pause) at full
concurrency, and litellm's own cost per call: the median time of a call to a server that
answers at once. Offline: no provider is called and the key is a placeholder.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sim.engines.llm.litellm_model import LiteLLMModel  # noqa: E402
from sim.engines.llm.model import Message, Request  # noqa: E402
from sim.engines.llm.wrappers import Concurrency  # noqa: E402
from tests.llm_server import LLMServer, Reply, completion  # noqa: E402

KEY_ENV = "PPS_BENCH_API_KEY"


def _serve(reply: Reply, conn) -> None:
    """The child process: serve ``reply`` and answer "stats", "reset" and "stop"."""
    with LLMServer(reply) as server:
        conn.send(server.api_base)
        while (command := conn.recv()) != "stop":
            if command == "reset":
                server.reset()
            conn.send((server.count, server.max_in_flight))


class ServerProcess:
    """:class:`LLMServer` serving one reply in a child process."""

    def __init__(self, reply: Reply):
        self._conn, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(target=_serve, args=(reply, child), daemon=True)

    def __enter__(self) -> ServerProcess:
        self._process.start()
        self.api_base = self._conn.recv()
        return self

    def _ask(self, command: str) -> tuple[int, int]:
        self._conn.send(command)
        return self._conn.recv()

    def reset(self) -> None:
        self._ask("reset")

    def stats(self) -> tuple[int, int]:
        """Requests received and the most in flight at once."""
        return self._ask("stats")

    def __exit__(self, *exc) -> None:
        self._conn.send("stop")
        self._process.join(timeout=5)


class FullCollections:
    """The full garbage collections (generation 2) while in use: how many, and their
    seconds (each stops the event loop)."""

    def __init__(self):
        self.count, self.seconds, self._start = 0, 0.0, 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._start

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)


def _request(server: ServerProcess, i: int) -> Request:
    return Request(
        "openai/gpt-4o-mini",
        (Message("user", f"request {i}"),),
        api_base=server.api_base,
        api_key_env=KEY_ENV,
        timeout=60.0,
    )


async def _batch(server: ServerProcess, n: int, limit: int) -> dict:
    """Wall time of ``n`` requests with at most ``limit`` in flight, the most the server saw
    at once, the client's CPU seconds (this process, all threads) and its full garbage
    collections."""
    model = Concurrency(LiteLLMModel(), limit)
    server.reset()
    with FullCollections() as collections:
        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(model.acomplete(_request(server, i)) for i in range(n)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    count, most = server.stats()
    if count != n:
        raise RuntimeError(f"server saw {count} requests, expected {n}")
    return dict(wall=elapsed, seen=most, cpu=cpu, gcs=collections.count, gc=collections.seconds)


async def _overhead(server: ServerProcess, n: int) -> list[float]:
    """Seconds per call, one at a time, to a server with no latency."""
    model = LiteLLMModel()
    times = []
    for i in range(n):
        start = time.perf_counter()
        await model.acomplete(_request(server, i))
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.25, help="server latency, seconds")
    parser.add_argument("--overhead-calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of both concurrencies")
    parser.add_argument(
        "--quick", action="store_true", help="32 requests at concurrency 1, scaled up"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault(KEY_ENV, "bench-placeholder-key")
    n, sequential = args.requests, (min(32, args.requests) if args.quick else args.requests)

    async def run() -> dict:
        with ServerProcess(completion("ok", model="gpt-4o-mini")) as fast:
            start = time.perf_counter()
            await _overhead(fast, 1)  # imports litellm, builds its client
            warmup = time.perf_counter() - start
            per_call = await _overhead(fast, args.overhead_calls)
        rounds = []
        with ServerProcess(completion("ok", model="gpt-4o-mini", delay=args.latency)) as slow:
            for _ in range(args.repeats):
                load = os.getloadavg()[0]
                one = (await _batch(slow, sequential, 1))["wall"] * n / sequential
                many = await _batch(slow, n, args.concurrency)
                rounds.append(dict(many, load=load, one=one, many=many["wall"]))
        return dict(warmup=warmup, per_call=per_call, rounds=rounds)

    r = asyncio.run(run())
    _report(args, r, n, sequential)
    return 0


def _report(args: argparse.Namespace, r: dict, n: int, sequential: int) -> None:
    rounds = r["rounds"]
    one = statistics.median(x["one"] for x in rounds)
    many = statistics.median(x["many"] for x in rounds)
    ratios = [x["one"] / x["many"] for x in rounds]
    scaled = f" (measured {sequential}, scaled)" if sequential != n else ""
    median = statistics.median(r["per_call"])
    cpu = statistics.median(x["cpu"] for x in rounds) / n
    print(f"server latency               {args.latency * 1000:.0f} ms")
    print(f"requests                     {n}, {len(rounds)} rounds (medians)")
    print(f"concurrency 1                {one:.2f} s{scaled}")
    seen = max(x["seen"] for x in rounds)
    print(f"concurrency {args.concurrency:<17}{many:.2f} s (server saw {seen} at once)")
    print(
        f"speed-up                     {statistics.median(ratios):.1f}x, min-max"
        f" {min(ratios):.1f}-{max(ratios):.1f}x (target >= 40x)"
    )
    print(f"ideal speed-up               {min(args.concurrency, n):.0f}x")
    print(f"client CPU per call          {cpu * 1000:.1f} ms at concurrency {args.concurrency}")
    gcs = ", ".join(f"{x['gcs']} ({x['gc'] * 1000:.0f} ms)" for x in rounds)
    print(f"full garbage collections     {gcs} at concurrency {args.concurrency}, per round")
    p90 = statistics.quantiles(r["per_call"], n=10)[-1]
    print(
        f"litellm overhead per call    {median * 1000:.1f} ms median, p90 {p90 * 1000:.1f} ms"
        f" ({len(r['per_call'])} calls at zero latency)"
    )
    estimate = max(-(-n // args.concurrency) * args.latency, n * median)
    print(
        f"estimate at concurrency {args.concurrency:<5}{estimate:.2f} s = max(waves x latency,"
        f" calls x overhead): about {one / estimate:.0f}x"
    )
    print(f"first call (import + client) {r['warmup']:.2f} s")
    loads = ", ".join(f"{x['load']:.2f}" for x in rounds)
    print(f"1-minute load average        {loads} (at each round's start; {os.cpu_count()} cores)")


if __name__ == "__main__":
    sys.exit(main())
