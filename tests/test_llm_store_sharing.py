"""One store shared: two processes filling it at once, a probe warming it for a fleet run,
and the dry run reading it. Offline: the fake model."""

from __future__ import annotations

import multiprocessing
import sqlite3

import numpy as np
import pytest

from sim import Ecosystem
from sim.app.probe import compose
from sim.app.probe import run as probe
from sim.app.runner import run
from sim.core.llm_params import LLMConfig
from sim.engines.llm.context import DecisionContext, band_of, render
from sim.engines.llm.engine import LLMEngine
from sim.engines.llm.episode import Episode
from sim.engines.llm.fake import FakeModel
from sim.engines.llm.store import FILE_NAME, EpisodeStore, Played, settings

CONTEXTS = [DecisionContext("evaluate", "peer", r, False, -2, 80.0) for r in ("good", "bad")]


def fill(directory: str, seeds: range, barrier) -> None:
    """Add an episode for every context and seed, ten seeds a transaction."""
    store = EpisodeStore(directory)
    barrier.wait()  # both processes write at the same time
    for start in range(seeds.start, seeds.stop, 10):
        store.add(
            (Played(c, "fake|shared", s, Episode(render(c, s), "comply", []))
             for s in range(start, min(start + 10, seeds.stop)) for c in CONTEXTS),
            "fake",
        )  # fmt: skip
    store.close()


def test_two_processes_filling_one_store_lose_and_duplicate_nothing(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    jobs = [spawn.Process(target=fill, args=(str(tmp_path), seeds, barrier))
            for seeds in (range(0, 300), range(150, 450))]  # fmt: skip
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
        assert job.exitcode == 0
    rows = (
        sqlite3.connect(tmp_path / FILE_NAME)
        .execute("SELECT key, seed, COUNT(*) FROM episodes GROUP BY key, seed")
        .fetchall()
    )
    assert len(rows) == 2 * 450 and {n for _, _, n in rows} == {1}
    store = EpisodeStore(tmp_path)
    stored = store.valid_outcomes(c.key("fake|shared") for c in CONTEXTS)
    assert [len(v) for v in stored.values()] == [450, 450]


@pytest.mark.parametrize("threshold", [None, 60.0])  # the probe's default (80) and another
def test_a_probe_warms_the_contexts_a_fleet_then_never_plays(tmp_path, threshold):
    k, cache = 3, tmp_path / "store"
    shared = ["llm.mode=amortised", f"llm.samples_per_context={k}", f"llm.cache_dir={cache}"]
    chosen = [] if threshold is None else [f"probe.threshold={threshold}"]
    app = compose([f"probe.out={tmp_path / 'probe'}", "probe.trials=30", "probe.min_valid=3",
                   "probe.cells=[evaluate/peer/*]", *chosen, *shared])  # fmt: skip
    threshold = threshold or 80.0
    probe(app)
    db = sqlite3.connect(cache / FILE_NAME)
    count = "SELECT key, COUNT(*), SUM(valid) FROM episodes GROUP BY key"
    before = {key: (n, valid) for key, n, valid in db.execute(count)}
    warmed = {key for key, (_, valid) in before.items() if valid >= k}
    assert len(warmed) >= 12  # most of 8 cells x 3 bands

    model = Ecosystem(population={"n_agents": 120}, engine={"kind": "llm"},
                      operator={"threshold": threshold}, seed=3,
                      llm={"mode": "amortised", "samples_per_context": k,
                           "cache_dir": str(cache)})  # fmt: skip
    model.run(20)
    after = {key: (n, valid) for key, n, valid in db.execute(count)}
    assert {key: after[key] for key in warmed} == {key: before[key] for key in warmed}
    assert len(after) > len(before)  # the fleet played the contexts the probe left cold

    events = model.event_log()
    peer_evaluations = events[(events["stage"] == "evaluate") & (events["target"] == "peer")]
    how = settings(LLMConfig(), "native")
    keys = [
        DecisionContext("evaluate", "peer", row.relationship, bool(row.monitored),
                        band_of(row.true_score, threshold), threshold).key(how)
        for row in peer_evaluations.itertuples()
    ]  # fmt: skip
    in_warmed = np.array([key in warmed for key in keys])
    assert in_warmed.sum() > 10
    assert not peer_evaluations["llm_played"].to_numpy(bool)[in_warmed].any()


def test_the_dry_run_reports_contexts_warm_and_the_calls_of_each_mode(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    small = ["population.n_agents=40", "steps=20", "figures=false", "progress=false",
             "engine=llm", "llm=openai", "llm.dry_run=true",
             "llm.samples_per_context=2"]  # fmt: skip
    cold = run([*small, f"llm.cache_dir={tmp_path / 'cold'}"], output_dir=tmp_path / "a")
    estimate = cold.summary["dry_run"]
    assert estimate["contexts"] > 5 and estimate["contexts_warm"] == 0
    assert 0 < estimate["calls_amortised"] <= estimate["calls"]
    per = estimate["calls_per_decision"]
    assert abs(estimate["calls"] - per * estimate["decisions"]) <= 0.5
    assert abs(estimate["calls_warmup"] - per * 384 * 2) <= 0.5
    assert not (tmp_path / "cold").exists() and not (tmp_path / "a").exists()

    # the same model and settings, every context of threshold 60 warmed
    config = LLMConfig(model="openai/gpt-4o-mini", api_key_env="OPENAI_API_KEY",
                       cache_dir=str(tmp_path / "warm"), mode="amortised",
                       samples_per_context=2, warmup=True)  # fmt: skip
    host = Ecosystem(population={"n_agents": 10}, seed=0)
    LLMEngine(config, host.profiles, host.fleet, 60.0, FakeModel())
    warm = run([*small, f"llm.cache_dir={tmp_path / 'warm'}"], output_dir=tmp_path / "b")
    estimate = warm.summary["dry_run"]
    assert estimate["contexts_warm"] == estimate["contexts"] > 5
    assert estimate["calls_amortised"] == estimate["calls_warmup"] == 0
