"""One measurement of the benchmark, run in a fresh process by ``benchmarks/bench.py``.

``python -m benchmarks.bench_worker '<json spec>'`` prints one ``BENCH {json}`` line per
phase (so a run killed by its timeout still reports what it finished), the last one with
the result. Peak RSS is this process's own (``ru_maxrss``), so each measurement must run in
a process of its own.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from unittest import mock

CHUNK = 10  # steps per timed chunk: one decommission round period, so chunks are alike


def emit(**fields) -> None:
    print("BENCH " + json.dumps(fields), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----------------------------------------------------------------------------- models
def _with_size(groups: dict, n: int) -> dict:
    groups = {k: dict(v) for k, v in groups.items()}
    groups["population"] = {**groups.get("population", {}), "n_agents": n}
    return groups


def prepare(spec: dict):
    """Import everything the implementation needs (untimed); return its constructor."""
    impl, n, seed = spec["impl"], spec["n_agents"], spec.get("seed", 0)
    if impl == "engine":
        from sim import Ecosystem

        groups = _with_size(spec.get("groups", {}), n)
        return lambda: Ecosystem(**groups, seed=seed)
    if impl == "reference":
        module, _, name = spec["reference"].partition(":")
        cls = getattr(importlib.import_module(module), name)
        groups = _with_size(spec.get("groups", {}), n)
        return lambda: cls(**groups, seed=seed)
    if impl == "virus":
        import networkx as nx
        from mesa.examples.basic.virus_on_network import model as virus_model

        # The example builds its graph with nx.erdos_renyi_graph: O(N^2) pair tests (about
        # 15 minutes at N = 100,000) and unseeded. fast_gnp_random_graph draws from the same
        # G(n, p) in O(N + edges), seeded; the agents, grid and steps are the example's own.
        def fast_er(n, p, *args, **kwargs):
            return nx.fast_gnp_random_graph(n, p, seed=seed)

        def build():
            with mock.patch.object(virus_model.nx, "erdos_renyi_graph", fast_er):
                return virus_model.VirusOnNetwork(
                    num_nodes=n,
                    avg_node_degree=spec["degree"],
                    initial_outbreak_size=spec["outbreak"],
                    seed=seed,
                )

        return build
    raise ValueError(f"unknown impl {impl!r}")


def run_chunked(model, steps: int, budget: float | None, step_fn) -> tuple[int, float]:
    """Run up to ``steps`` steps in chunks of CHUNK; stop after a chunk once ``budget``
    seconds of run time are spent. Returns (steps run, run seconds)."""
    done, spent = 0, 0.0
    while done < steps:
        chunk = min(CHUNK, steps - done)
        t0 = time.perf_counter()
        step_fn(model, chunk)
        spent += time.perf_counter() - t0
        done += chunk
        emit(phase="progress", steps_done=done, run_s=spent)
        if budget is not None and spent >= budget:
            break
    return done, spent


def measure_model(spec: dict) -> None:
    impl = spec["impl"]
    build = prepare(spec)
    t0 = time.perf_counter()
    model = build()
    build_s = time.perf_counter() - t0
    emit(phase="built", build_s=build_s, peak_rss_mb=peak_rss_mb())

    if impl == "virus":

        def step_fn(m, k):
            for _ in range(k):
                m.step()
    else:

        def step_fn(m, k):
            m.run(k)

    steps, run_s = run_chunked(model, spec["steps"], spec.get("budget_s"), step_fn)
    if impl == "virus":
        rows = len(model.datacollector.get_model_vars_dataframe())
    else:
        rows = len(model.time_series())
    emit(
        phase="done",
        build_s=build_s,
        run_s=run_s,
        steps=steps,
        time_series_rows=rows,
        peak_rss_mb=peak_rss_mb(),
    )


# ----------------------------------------------------------------------------- spread
def measure_spread(spec: dict) -> None:
    """The engine's reference spread step vs EoN's basic_discrete_SIR on one graph."""
    import networkx as nx
    import numpy as np

    n, degree, p, seed = spec["n_agents"], spec["degree"], spec["p"], spec.get("seed", 0)
    t0 = time.perf_counter()
    graph = nx.fast_gnp_random_graph(n, degree / max(n - 1, 1), seed=seed)
    seeds = np.random.default_rng(seed).choice(n, size=min(spec["initial"], n), replace=False)
    emit(phase="graph", graph_build_s=time.perf_counter() - t0, edges=graph.number_of_edges())

    from sim.core.params import ContagionConfig, GraphConfig
    from sim.network.spread import IMMUNE, ReferenceSpread
    from sim.network.trust import TrustNetwork

    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    config = GraphConfig(topology="erdos_renyi", mean_degree=degree, trust_distribution="constant")
    network = TrustNetwork(graph, n, config, rng)
    contagion = ContagionConfig(
        mode="simple", beta=p, gamma=1.0, recovery="sir", seeding="ids", seed_ids=seeds.tolist()
    )
    spread = ReferenceSpread(contagion, network, rng)
    build_s = time.perf_counter() - t0
    steps, t0 = 0, time.perf_counter()
    while spread.protective.any():
        spread.step(rng)
        steps += 1
    run_s = time.perf_counter() - t0
    final = float(np.mean(spread.state == IMMUNE))
    emit(
        phase="engine",
        impl="engine-spread",
        build_s=build_s,
        run_s=run_s,
        steps=steps,
        final_size=final,
        peak_rss_mb=peak_rss_mb(),
    )
    del spread, network

    try:
        import EoN
    except ImportError:
        emit(phase="done", eon="skipped: pip install -e .[bench]")
        return
    t0 = time.perf_counter()
    t, _, _, recovered = EoN.basic_discrete_SIR(
        graph, p, initial_infecteds=seeds.tolist(), rng=np.random.default_rng(seed + 2)
    )
    run_s = time.perf_counter() - t0
    emit(
        phase="eon",
        impl="eon-sir",
        build_s=None,
        run_s=run_s,
        steps=len(t) - 1,
        final_size=float(recovered[-1]) / n,
        eon_version=getattr(EoN, "__version__", None),
        peak_rss_mb=peak_rss_mb(),
    )
    emit(phase="done")


# ----------------------------------------------------------------------------- import
def measure_import(spec: dict) -> None:
    t0 = time.perf_counter()
    import sim

    import_s = time.perf_counter() - t0
    heavy = [m for m in ("litellm", "solara", "matplotlib") if m in sys.modules]
    t0 = time.perf_counter()
    _ = sim.Ecosystem
    emit(
        phase="done",
        import_s=import_s,
        heavy_modules=heavy,
        ecosystem_import_s=time.perf_counter() - t0,
    )


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    kind = spec["kind"]
    {"model": measure_model, "spread": measure_spread, "import": measure_import}[kind](spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
