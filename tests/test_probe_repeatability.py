"""The probe's replays: they repeat a trial's scenario with another request seed, are left
out of the rates, and measure persistence (kappa): 1 for a model that repeats itself, about
0 for one that draws afresh. Any model name gives a profile the loader reads."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.app.probe import compose, run
from sim.app.probe.estimates import estimates, nearest_family
from sim.app.probe.profile import ProbedProfile, model_token, profile_rows, profile_text
from sim.app.probe.repeatability import persistence, verdict
from sim.core.errors import ConfigError
from sim.engines.llm.engine import language_model, request_template
from sim.engines.llm.probe import CELLS, play, replay_seed, scenario, trial_seed
from sim.engines.profiles import available_profiles, load_profile

TRIALS, REPEATS = 12, 10


def probed(temperature: float, cells=CELLS):
    """Every cell of the fake (rate 0.3) with replays, at ``temperature``."""
    app = compose([f"llm.temperature={temperature}", f"probe.trials={TRIALS}",
                   f"probe.repeats={REPEATS}"])  # fmt: skip
    template = request_template(app.llm)
    trials = play(language_model(app.llm), cells, TRIALS, 0, template, app.llm.max_turns,
                  repeats=REPEATS)  # fmt: skip
    return trials, estimates(trials)


def test_replays_repeat_the_scenario_with_another_seed_and_are_not_counted():
    cell = CELLS[0]
    assert scenario(cell, trial_seed(0, cell, 3)) == scenario(cell, trial_seed(0, cell, 3))
    assert replay_seed(0, cell, 3) != trial_seed(0, cell, 3)
    trials, found = probed(0.0, CELLS[:3])
    assert len(trials) == 3 * (TRIALS + REPEATS)
    assert sum(t.replay for t in trials) == 3 * REPEATS
    assert {t.trial for t in trials if t.replay} == set(range(REPEATS))
    assert all(e.trials == TRIALS for e in found.values())  # the replays are left out


def test_a_greedy_model_has_kappa_1_and_a_sampling_one_about_0():
    greedy = persistence(*probed(0.0), seed=0)
    assert greedy.pairs == len(CELLS) * REPEATS and greedy.agreement == 1.0
    assert greedy.kappa == pytest.approx(1.0) and greedy.low == pytest.approx(1.0)
    assert "repeats its decisions" in verdict(greedy)
    sampled = persistence(*probed(0.7), seed=0)
    # 650 pairs at p = 0.3: kappa's standard error is about 1/sqrt(650) = 0.04, so |kappa|
    # < 0.2 holds for an independent model at 5 standard errors; the interval covers 0.
    assert abs(sampled.kappa) < 0.2 and sampled.low < 0 < sampled.high
    assert sampled.expected == pytest.approx(0.3**2 + 0.7**2, abs=0.06)
    assert "a profile carries it" in verdict(sampled)


def test_no_replays_no_persistence_and_a_negative_count_refused():
    trials, found = probed(0.0, CELLS[:2])
    first = [t for t in trials if not t.replay]
    none = persistence(first, found, seed=0)
    assert none.pairs == 0 and math.isnan(none.kappa) and "not measured" in verdict(none)
    with pytest.raises(ConfigError, match=r"probe.repeats: must be in \[0, 100000\], got -1"):
        compose(["probe.repeats=-1"])


def test_the_probe_writes_replays_and_the_report_says_the_persistence(tmp_path, capsys):
    out = tmp_path / "p"
    app = compose([f"probe.out={out}", "probe.trials=10", "probe.repeats=4",
                   "probe.cells=[evaluate/peer/*]"])  # fmt: skip
    assert run(app) == 0
    table = pd.read_parquet(out / "trials.parquet")
    assert table.replay.sum() == 8 * 4 and (~table.replay).sum() == 8 * 10
    report = (out / "report.md").read_text()
    assert "## Persistence" in report and "| 32 | 1.000 |" in report
    assert "persistence (kappa)         1.000 [1.000, 1.000] over 32" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["Org/My Model 7B", "tab\tname", "two\nlines", " padded "])
def test_any_model_name_gives_a_profile_the_loader_reads(tmp_path, model):
    trials, found = probed(0.0, CELLS[:4])
    shipped = [load_profile(p) for p in available_profiles().values()]
    nearest = nearest_family(found, shipped, 5)
    rows = profile_rows(found, 5, model, "2026-12-07", nearest[0])
    path = tmp_path / "x.csv"
    path.write_text(profile_text(ProbedProfile("x", model, rows, *nearest), []))
    profile = load_profile(path)
    token = model_token(model)
    assert " " not in token and "\n" not in token
    assert f"probe:{token}:n={TRIALS}:" in profile.provenance["evaluate", "peer", "good", "false"]
