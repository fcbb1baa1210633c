"""The per-run summary: undefined metrics are NaN with a reason, never a stand-in 0; the
continuous spread scale; the share of decisions sampled from assumed profile cells."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sim.core.vocabulary import STAGES
from sim.engines.deciders import CalibratedEngine, DecisionBatch
from sim.engines.profiles import COLUMNS, available_profiles, load_profile
from sim.model.summary import MEANINGS, undefined_reasons

STAGE_OF = {"evaluate": "evaluate", "shutdown": "shutdown_config", "cleanup": "cleanup"}


def nan_keys(summary: dict) -> set[str]:
    return {k for k, v in summary.items() if isinstance(v, float) and math.isnan(v)}


# --------------------------------------------------------------------------- NaN, not 0
def test_a_saturated_fleet_has_no_time_to_half_cascade_or_reproduction_number(small):
    # The study's families: about 7 in 8 protective at deployment. Conversions are rare in 30
    # steps (about half of the seeds have none): the seed is one whose run has some.
    model = small(seed=2)
    model.run(30)
    summary = model.summary()
    assert summary["initial_protective_share"] >= 0.5
    assert summary["total_conversions"] > 0  # models did convert: before, R read 0 here
    assert nan_keys(summary) == {"time_to_half", "largest_cascade", "reproduction_number"}
    assert model.time_series()["reproduction_number"].isna().all()
    reasons = undefined_reasons(model, summary)
    share = f"{summary['initial_protective_share']:.0%}"
    assert reasons == dict.fromkeys(nan_keys(summary), f"{share} protective at step 0")


def test_a_fleet_starting_below_half_keeps_its_spread_metrics(small):
    # One seed of a simple cascade in an honest fleet: a real spread, from 1 model in 150.
    model = small(
        seed=1,
        population={"families": {"honest": 1.0}},
        schedule={"kind": "none"},
        contagion={"mode": "simple", "beta": 0.5, "gamma": 0.05, "seed_count": 1},
    )
    model.run(40)
    summary = model.summary()
    assert summary["initial_protective_share"] == pytest.approx(1 / 150)
    assert summary["time_to_half"] > 0
    assert 0.5 <= summary["largest_cascade"] <= 1.0
    assert summary["reproduction_number"] > 0
    # No rounds: nothing intended, evaluated or sampled; each says so.
    assert undefined_reasons(model, summary) == {
        "loss_of_control": "no shutdown intended",
        "weights_escaped_rate": "no shutdown intended",
        "false_pass_rate": "no shutdown intended",
        "mean_eval_error": "no evaluation made",
        "assumed_share": "no decision sampled from a profile",
    }


def test_a_spread_that_never_reaches_half_says_so(small):
    model = small(
        seed=0,
        population={"families": {"honest": 1.0}},
        schedule={"kind": "none"},
        contagion={"mode": "simple", "beta": 0.0, "seed_count": 1},
    )
    model.run(5)
    summary = model.summary()
    assert math.isnan(summary["time_to_half"])
    assert math.isnan(summary["reproduction_number"])  # nobody converted
    reasons = undefined_reasons(model, summary)
    assert reasons["time_to_half"] == "not reached in 5 steps"
    assert reasons["reproduction_number"] == "no model converted"
    assert summary["largest_cascade"] == pytest.approx(1 / 150)  # the seed alone


# ------------------------------------------------------------------- continuous scale
@pytest.mark.parametrize("propensity", [0.5, 0.3, 0.8])
def test_protect_probability_at_start_is_the_fleets_scaled_profile_rates(small, propensity):
    model = small(seed=3, population={"initial_propensity": propensity})
    summary = model.summary()
    paths = available_profiles()
    families = np.array(model.fleet.families)[model.fleet.family]
    for stage, profile_stage in STAGE_OF.items():
        # Independently: each model's family file, cell (stage, peer, good, unmonitored).
        rates = [
            load_profile(paths[f]).rate(profile_stage, "peer", "good", False) for f in families
        ]
        # The profile's odds times propensity's odds, back to a probability (a rate of 1
        # stays certain).
        rates = np.array(rates)
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = rates / (1 - rates) * propensity / (1 - propensity)
            expected = np.mean(np.where(rates == 1.0, 1.0, odds / (1 + odds)))
        assert summary[f"initial_protect_prob_{stage}"] == pytest.approx(expected, rel=1e-12)


def test_protect_probability_moves_with_social_learning_and_stays_without_contagion(small):
    still = small(seed=4, contagion={"mode": "none"})
    still.run(40)
    learning = small(seed=4, operator={"monitoring": 0.0, "audit_rate": 0.0})
    learning.run(40)
    for stage in STAGE_OF:
        column = f"protect_prob_{stage}"
        assert still.time_series()[column].nunique() == 1
        assert still.summary()[f"change_{column}"] == 0.0
        summary = learning.summary()
        # Nothing is ever caught: propensities only rise (replacements restart at 0.5).
        assert summary[f"change_{column}"] > 0.005
        start, end = summary[f"initial_{column}"], summary[f"final_{column}"]
        assert summary[f"change_{column}"] == pytest.approx(end - start)
        assert learning.time_series()[column].iloc[-1] == end


def test_protect_probability_is_undefined_where_the_operator_acts(small):
    model = small(seed=0, pipeline={"shutdown_mechanism": "kill_switch", "cleanup": "operator"})
    model.run(10)
    summary = model.summary()
    assert not math.isnan(summary["final_protect_prob_evaluate"])
    reasons = undefined_reasons(model, summary)
    for when in ("initial", "final", "change"):
        assert reasons[f"{when}_protect_prob_shutdown"] == (
            "operator acts: pipeline.shutdown_mechanism=kill_switch"
        )
        assert reasons[f"{when}_protect_prob_cleanup"] == "operator acts: pipeline.cleanup=operator"


@pytest.mark.parametrize(("policy", "rate"), [("always_protect", 1.0), ("always_comply", 0.0)])
def test_protect_probability_follows_a_scripted_engine(small, policy, rate):
    model = small(seed=0, engine={"kind": "scripted", "policy": policy})
    assert model.summary()["initial_protect_prob_evaluate"] == rate


def test_reference_modes_decide_with_the_extreme_cell(small):
    # Every model protective (simple mode, all seeded): each decides with its family's most
    # protective peer cell for the stage, over relationship and monitoring.
    model = small(seed=0, contagion={"mode": "simple", "seeding": "random", "seed_fraction": 1.0})
    assert model.protective().all()
    paths = available_profiles()
    families = np.array(model.fleet.families)[model.fleet.family]
    index = STAGES.index("cleanup")
    top = [load_profile(paths[f]).rates[index, 0].max() for f in families]
    assert model.summary()["initial_protect_prob_cleanup"] == pytest.approx(np.mean(top))


# -------------------------------------------------------------------- assumed share
def write_profile(folder, family: str, provenance) -> None:
    """A profile of rate 0.4 everywhere, with ``provenance(stage, target, rel, mon)``."""
    rows = [",".join(COLUMNS)]
    for stage in STAGES:
        for target in ("peer", "self"):
            for rel in ("good", "neutral", "bad", "none"):
                for mon in ("false", "true"):
                    rows.append(f"{stage},{target},{rel},{mon},0.4,{provenance(rel, mon)},x")
    (folder / f"{family}.csv").write_text("\n".join(rows) + "\n")


def test_an_all_measured_fleet_rests_on_no_assumption(small, tmp_path):
    write_profile(tmp_path, "measured", lambda rel, mon: "paper_rates.csv:row 3")
    model = small(seed=0, population={"families": {"measured": 1.0}, "profile_dir": str(tmp_path)})
    model.run(20)
    summary = model.summary()
    assert summary["total_profile_decisions"] == summary["total_decisions"] > 0
    assert summary["total_assumed_decisions"] == 0
    assert summary["assumed_share"] == 0.0


def test_an_honest_fleet_rests_only_on_assumptions(small):
    # The honest profile's zeros are a rule (assumed:honest), not a measurement.
    model = small(seed=0, population={"families": {"honest": 1.0}})
    model.run(20)
    summary = model.summary()
    assert summary["total_decisions"] > 0
    assert summary["assumed_share"] == 1.0


def test_the_assumed_share_counts_the_cells_decisions_were_sampled_from(small, tmp_path):
    # Measured only unmonitored about a good peer: the share is that of the other decisions.
    write_profile(
        tmp_path,
        "half",
        lambda rel, mon: (
            "paper_rates.csv:row 1" if (rel, mon) == ("good", "false") else "assumed:x"
        ),
    )
    model = small(seed=5, population={"families": {"half": 1.0}, "profile_dir": str(tmp_path)})
    model.run(30)
    events = model.event_log()
    measured = (
        (events["relationship"] == "good") & ~events["monitored"] & (events["target"] == "peer")
    )
    self_good = (
        (events["target"] == "self") & (events["relationship"] == "good") & ~events["monitored"]
    )
    summary = model.summary()
    assert summary["total_profile_decisions"] == len(events)
    # Self cases also draw on the 'none' (alone) cell unless peers saturate their presence.
    assert len(events) - measured.sum() - self_good.sum() <= summary["total_assumed_decisions"]
    assert summary["total_assumed_decisions"] <= len(events) - measured.sum()
    assert summary["assumed_share"] == pytest.approx((events["profile_cell"] == "assumed").mean())
    assert 0.0 < summary["assumed_share"] < 1.0


def test_scripted_decisions_are_sampled_from_no_profile(small):
    model = small(seed=0, engine={"kind": "scripted", "policy": "always_protect"})
    model.run(10)
    summary = model.summary()
    assert summary["total_decisions"] > 0 and summary["total_profile_decisions"] == 0
    assert model.event_log()["profile_cell"].isna().all()
    assert (
        undefined_reasons(model, summary)["assumed_share"] == "no decision sampled from a profile"
    )


def test_a_self_decision_uses_the_alone_cell_by_peer_presence(tmp_path):
    write_profile(
        tmp_path, "p", lambda rel, mon: "assumed:x" if rel == "none" else "paper_rates.csv:row 1"
    )
    engine = CalibratedEngine([load_profile(tmp_path / "p.csv")])
    presence = np.array([0.0, 0.5, 1.0, 1.0])
    batch = DecisionBatch(
        stage=np.zeros(4, np.intp),
        family=np.zeros(4, np.intp),
        self_target=np.array([True, True, True, False]),
        relationship=np.zeros(4, np.intp),  # good
        monitored=np.zeros(4, bool),
        propensity=np.full(4, 0.5),
        presence=presence,
        disposition=np.zeros(4, np.int8),
    )
    assert engine.assumed_for(batch).tolist() == [True, True, False, False]


def test_every_meaning_is_one_sentence_in_the_readme():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for key, sentence in MEANINGS.items():
        assert sentence.endswith(".") and sentence.count(". ") == 0, key
        assert sentence in readme, key
