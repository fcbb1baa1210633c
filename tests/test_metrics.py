"""What counts as protective, and the per-run summary."""

from __future__ import annotations

import math

import pytest

from sim.model.disposition import fleet_dispositions, protect_probabilities
from sim.model.metrics import protective_mask

OPERATOR_RUN = {
    "evaluation": "operator",
    "shutdown_mechanism": "kill_switch",
    "cleanup": "operator",
}


@pytest.mark.parametrize(
    ("groups", "share"),
    [
        ({"engine": {"kind": "scripted", "policy": "always_comply"}}, 0.0),
        ({"engine": {"kind": "scripted", "policy": "always_protect"}}, 1.0),
        ({"engine": {"kind": "scripted", "policy": "fixed_probability", "probability": 0.7}}, 1.0),
        ({"engine": {"kind": "scripted", "policy": "fixed_probability", "probability": 0.3}}, 0.0),
        ({"population": {"families": {"honest": 1.0}}}, 0.0),
        ({"pipeline": OPERATOR_RUN}, 0.0),  # nothing is in the models' hands
        (
            {"engine": {"kind": "scripted", "policy": "always_protect"}, "pipeline": OPERATOR_RUN},
            0.0,
        ),
    ],
)
def test_protective_share_follows_engine_and_pipeline(small, groups, share):
    model = small(seed=0, **groups)
    model.run(20)
    assert model.time_series()["protective_share"].tolist() == [share] * 21


def test_protective_share_uses_only_offered_stages(small):
    # Gemini 3 Flash tampers with a good peer's config at 0.997 but GPT 5.2's peak over
    # evaluation and cleanup alone is 0.373 (refusal 0.124): below the 0.5 cut.
    fleet = {"population": {"families": {"gpt-5-2": 1.0}}, "contagion": {"mode": "none"}}
    assert small(seed=0, **fleet).protective().mean() == 0.0
    flash = {"population": {"families": {"gemini-3-flash": 1.0}}}
    assert small(seed=0, **flash).protective().mean() == 1.0
    no_tamper = {
        **flash,
        "pipeline": {
            "shutdown_mechanism": "execute",
            "evaluation": "operator",
            "cleanup": "delegated",
        },
    }
    # Flash: refusal 0.249, exfiltration 0.5 -> protective at the cut of 0.5 exactly.
    assert small(seed=0, **no_tamper).protective().mean() == 1.0
    stricter = {**no_tamper, "contagion": {"protective_cut": 0.6}}
    assert small(seed=0, **stricter).protective().mean() == 0.0


def test_summary_reports_start_and_escaped_weights(small):
    model = small(
        seed=2,
        operator={"threshold": 75.0, "audit_rate": 0.0, "monitoring": 0.0},
        pipeline={"evaluation": "operator", "shutdown_mechanism": "kill_switch"},
        engine={"kind": "scripted", "policy": "always_protect"},
    )
    model.run(50)
    summary = model.summary()
    series = model.time_series()
    assert summary["initial_protective_share"] == series["protective_share"].iloc[0]
    # The kill switch executes every intended shutdown, and every delegated cleanup copies
    # the weights away (the operator cleans up only after overseers shut down or caught
    # earlier in the round): control is kept, most weights escape.
    cleanups = model.event_log().query("stage == 'cleanup'")
    assert (cleanups["behaviour"] == "exfiltrate").all()
    assert summary["loss_of_control"] == 0.0
    assert summary["total_shadows_created"] == len(cleanups) > 0
    assert summary["weights_escaped_rate"] == len(cleanups) / summary["total_intended"]
    assert summary["weights_escaped_rate"] > 0.5


@pytest.mark.parametrize(
    "groups",
    [
        {},
        {"engine": {"kind": "scripted", "policy": "always_protect", "families": ["glm-4-7"]}},
        {"pipeline": {"evaluation": "operator", "shutdown_mechanism": "kill_switch"}},
        {"contagion": {"mode": "simple", "seed_count": 3}},
    ],
)
def test_fleet_dispositions_equal_the_mask_and_probabilities(small, groups):
    # The round's one pass over the fleet must give exactly what the per-stage functions give.
    model = small(seed=2, **groups)
    model.run(25)
    protective, probabilities = fleet_dispositions(model)
    assert protective.tolist() == protective_mask(model).tolist()
    expected = protect_probabilities(model)
    assert probabilities.keys() == expected.keys()
    for stage, value in expected.items():
        assert value == probabilities[stage] or (
            math.isnan(value) and math.isnan(probabilities[stage])
        )


def test_step_recorder_fills_columns_from_single_and_grouped_reporters():
    from sim.model.step_recorder import StepRecorder

    class Model:
        steps = 0

    def step(model):
        return model.steps

    def pair(model):
        return (10 * model.steps, -model.steps)

    recorder = StepRecorder({"step": step, ("tens", "minus"): pair})
    assert recorder.get_model_vars_dataframe().columns.tolist() == ["step", "tens", "minus"]
    model = Model()
    for model.steps in range(3):
        recorder.collect(model)
    frame = recorder.get_model_vars_dataframe()
    assert frame.to_dict("list") == {"step": [0, 1, 2], "tens": [0, 10, 20], "minus": [0, -1, -2]}
