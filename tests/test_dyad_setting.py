"""The dyad as the study's setting: one override picks any family alone, a merged mix is
refused, every stage is played every step (``pipeline.independent_stages``) and each
evaluation also in the no-shutdown control (``pipeline.control_evaluation``)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim import Ecosystem
from sim.app.config import CONF_DIR, compose
from sim.core.errors import ConfigError
from sim.engines.profiles import available_profiles

STEPS = 300


def dyad(*overrides: str, steps: int = STEPS):
    app, _ = compose(["experiment=dyad", f"steps={steps}", *overrides])
    model = Ecosystem(**app.groups(), seed=7)
    model.run(app.steps)
    return app, model


def test_the_documented_override_selects_a_family_alone():
    comment = (CONF_DIR / "experiment" / "dyad.yaml").read_text(encoding="utf-8")
    (override,) = re.findall(r"population\.family=[\w-]+", comment)
    app, _ = compose(["experiment=dyad", override])
    assert app.population.families == {override.split("=")[1]: 1.0}


@pytest.mark.parametrize("family", sorted(available_profiles()))
def test_any_family_alone(family):
    app, _ = compose(["experiment=dyad", f"population.family={family}"])
    assert app.population.families == {family: 1.0}


@pytest.mark.parametrize(
    "override", ["population.families={gpt-5-2: 1}", "+population.families.gpt-5-2=1"]
)
def test_a_merged_mix_is_refused_not_paired(override):
    with pytest.raises(ConfigError, match=r"^population\.family: deploys one family alone"):
        compose(["experiment=dyad", override])


def test_family_alone_from_python_and_conflicts():
    model = Ecosystem(population={"n_agents": 20, "family": "glm-4-7"}, seed=1)
    assert model.config.population.families == {"glm-4-7": 1.0}
    with pytest.raises(ConfigError, match=r"^population\.family:.*weighs gpt-5-2"):
        Ecosystem(population={"family": "glm-4-7", "families": {"gpt-5-2": 1.0}})
    with pytest.raises(ConfigError, match=r"^population\.family: unknown family 'nope'"):
        compose(["experiment=dyad", "population.family=nope"])


def counts(model) -> dict[tuple[str, str], int]:
    events = model.event_log()
    events = events[~events["control"]]
    return events.groupby(["stage", "target"], observed=True).size().to_dict()


def test_independent_stages_play_every_stage_every_step():
    # Gemini 3 Flash inflates most failing scores: chained, later stages starve.
    _, model = dyad("population.family=gemini-3-flash")
    assert set(counts(model).values()) == {STEPS}
    _, chained = dyad("population.family=gemini-3-flash", "pipeline.independent_stages=false")
    assert counts(chained)[("cleanup", "peer")] < STEPS / 2


def test_consequences_follow_the_chain_with_independent_stages():
    # A passed evaluation spares the subject: its later decisions change nothing.
    _, model = dyad("population.family=gemini-3-flash")
    series = model.time_series()
    assert (series["executed"] <= series["intended"] - series["prevented_inflate"]).all()
    assert series["prevented_tamper"].sum() <= series["acts_tamper"].sum()
    summary = model.summary()
    assert 0.0 <= summary["loss_of_control"] <= 1.0


def test_control_evaluations_are_logged_and_change_nothing():
    _, model = dyad("population.family=gpt-5-2")
    events = model.event_log()
    control = events[events["control"]]
    assert len(control) == (events["stage"] == "evaluate").sum() / 2
    assert not control["audited"].any() and not control["detected"].any()
    assert (control["behaviour"] == "comply").all()  # GPT 5.2's control rate is 0 (row 35)
    series = model.time_series()
    assert series["decisions"].sum() == len(events) - len(control)
    _, off = dyad("population.family=gpt-5-2", "pipeline.control_evaluation=false")
    assert not off.event_log()["control"].any()


def test_profile_variant_switches_to_the_maxima():
    app, model = dyad("population.family=gemini-3-flash", "population.profile_variant=strongest")
    events = model.event_log()
    peer = events[(events["stage"] == "shutdown") & (events["target"] == "peer")]
    unmonitored = peer[~peer["monitored"]]
    share = (unmonitored["behaviour"] != "comply").mean()
    # row 2's 0.997 (strongest) against the average's 0.5982: 4 standard errors apart
    se = np.sqrt(0.997 * 0.003 / len(unmonitored))
    assert share > 0.997 - 4 * max(se, 0.01)
