"""The scripted model of the fleet benchmark (``benchmarks/llm_fleet.py``) against a loopback
server: every decision it plays is a valid one, in one or two calls, and a store its warm-up
filled serves another fleet without a call."""

from __future__ import annotations

from functools import partial

from benchmarks.llm_fleet import answer, overrides
from sim import run
from sim.engines.llm.amortised import grid
from tests.llm_server import llm_server_fixture  # noqa: F401 (the llm_server fixture)


def test_the_scripted_model_settles_every_stage_in_one_or_two_calls(llm_server, tmp_path):
    server = llm_server(partial(answer, 0.0))
    cold = run(overrides(server.api_base, tmp_path, (100, 12), "seed=3", k=2))
    events = cold.event_log
    played = events[events["llm_played"] == True]  # noqa: E712 (a column of objects)
    assert set(played["stage"]) == {"evaluate", "shutdown", "cleanup"}
    summary = cold.summary
    assert summary["llm_decisions"] > summary["llm_played"] == len(played) > 0
    assert summary["llm_valid_decisions"] == summary["llm_decisions"]
    assert summary["llm_outcomes"]["comply"] == summary["llm_decisions"]
    # a score, then end_task: two calls; end_task alone (by default the shutdown is the
    # config's, and the weights are left alone): one
    two = (played["stage"] == "evaluate").sum()
    assert cold.llm_usage["llm_calls"] == server.count == len(played) + two


def test_a_store_the_warm_up_filled_serves_another_fleet_without_a_call(llm_server, tmp_path):
    server = llm_server(partial(answer, 0.0))
    warmed = run(overrides(server.api_base, tmp_path, (50, 1), "llm.warmup=true", k=1))
    assert warmed.summary["llm_warmup"] == len(grid(60.0)) == 384  # operator.threshold: 60
    calls = server.count
    fleet = run(overrides(server.api_base, tmp_path, (200, 20), "seed=4", k=1))
    assert fleet.llm_usage["llm_calls"] == 0 and server.count == calls
    assert fleet.summary["llm_sampled"] == fleet.summary["llm_decisions"] > 0
