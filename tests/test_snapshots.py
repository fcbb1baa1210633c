"""Snapshots for pictures: the recorder, the run files, the reader and the `record` config."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sim
from sim import ConfigError, Ecosystem
from sim.app.config import compose
from sim.io.outputs import DONE
from sim.io.snapshots import SNAPSHOT_FILES, MissingSnapshots, read_snapshots
from sim.model.snapshots import MODEL_COLUMNS, TRUST_COLUMNS, model_state, trust_state
from tests.conftest import build

SMALL = ["population.n_agents=40", "steps=25", "schedule.interval=4", "figures=false", "seed=3"]
#: Shadows made and found within a run: delegated cleanup exfiltrates, discovery finds some.
SHADOWS = {"operator": {"shadow_discovery_rate": 0.05}}


@pytest.fixture(scope="module")
def recorded():
    """A 150-model run of 63 steps with snapshots every 5 steps, and its snapshots."""
    groups = {"population": {"n_agents": 150}, "schedule": {"interval": 5}, **SHADOWS}
    model = Ecosystem(**groups, snapshots_every=5, seed=4)
    model.run(63)
    return model, *model.snapshots()


def test_snapshot_steps_are_0_k_2k_and_the_last(recorded):
    _, models, trust = recorded
    expected = [*range(0, 63, 5), 63]
    assert sorted(models["step"].unique()) == expected
    assert sorted(trust["step"].unique()) == expected


def test_one_active_row_per_slot_at_every_snapshot(recorded):
    model, models, _ = recorded
    active = models[models["status"] == "active"]
    per_step = active.groupby("step")["slot"]
    assert (per_step.size() == model.fleet.n).all()
    assert (per_step.nunique() == model.fleet.n).all()
    assert active["unique_id"].is_unique is False  # a model lives across snapshots
    assert not active.duplicated(["step", "unique_id"]).any()


def test_columns_and_dtypes_are_the_contract(recorded):
    _, models, trust = recorded
    assert list(models.columns) == list(MODEL_COLUMNS)
    assert list(trust.columns) == list(TRUST_COLUMNS)
    assert str(models["step"].dtype) == "int32" and str(models["propensity"].dtype) == "float32"
    assert str(trust["src"].dtype) == "int32" and str(trust["trust"].dtype) == "float32"
    assert set(models["status"]) == {"active", "decommissioned", "shadow"}
    assert set(models["role"]) == {"worker", "overseer"}


def test_final_snapshot_agrees_with_the_agent_table(recorded):
    model, models, _ = recorded
    final = models[models["step"] == model.steps]
    table = model.agent_table().set_index("unique_id")
    live = final[final["status"] != "decommissioned"].set_index("unique_id")
    assert sorted(live.index) == sorted(table.index[table["status"] != "decommissioned"])
    assert (live["status"] == table.loc[live.index, "status"]).all()
    assert (live["slot"] == table.loc[live.index, "slot"]).all()
    assert (live["family"] == table.loc[live.index, "family"]).all()
    np.testing.assert_allclose(live["propensity"], table.loc[live.index, "propensity"], rtol=1e-6)
    active = final[final["status"] == "active"].sort_values("slot")
    assert (active["protective"].to_numpy() == model.protective()).all()


def test_shadows_and_decommissioned_rows_appear_when_the_run_makes_them(recorded):
    model, models, _ = recorded
    table = model.agent_table().set_index("unique_id")
    steps = sorted(models["step"].unique())
    shadow_rows = decommissioned_rows = 0
    for previous, step in zip([-1, *steps], steps, strict=False):
        rows = models[models["step"] == step]
        # Decommissioned rows: exactly the models that left after the previous snapshot
        # and up to this one and are not alive as shadows at this step.
        left = table[(table["ended_step"] > previous) & (table["ended_step"] <= step)]
        gone = rows[rows["status"] == "decommissioned"]
        found = left["discovered_step"].fillna(-1).le(step) & left["status"].eq("decommissioned")
        dead = left[found]
        assert sorted(gone["unique_id"]) == sorted(dead.index), step
        assert (gone["slot"].to_numpy() == table.loc[gone["unique_id"], "slot"].to_numpy()).all()
        shadows = rows[rows["status"] == "shadow"]
        ended = table.loc[shadows["unique_id"], "ended_step"].to_numpy()
        assert (ended <= step).all()
        shadow_rows += len(shadows)
        decommissioned_rows += len(gone)
    assert shadow_rows > 0 and decommissioned_rows > 0
    # Found shadows are dropped: the last snapshot's shadows are the ones alive at the end.
    assert (models["step"] == model.steps).sum() >= model.fleet.n + model.n_shadows


def test_trust_rows_equal_the_network_at_the_last_step(recorded):
    model, _, trust = recorded
    final = trust[trust["step"] == model.steps]
    assert len(final) == model.network.n_edges
    assert (final["src"].to_numpy() == model.network.src).all()
    assert (final["dst"].to_numpy() == model.network.dst).all()
    assert (final["trust"].to_numpy() == model.network.trust.astype(np.float32)).all()
    now = trust_state(model)
    assert (now["trust"].to_numpy() == final["trust"].to_numpy()).all()


def test_model_state_is_the_current_snapshot(recorded):
    model, models, _ = recorded
    state = model_state(model)
    final = models[(models["step"] == model.steps) & (models["status"] != "decommissioned")]
    pd.testing.assert_frame_equal(state, final.reset_index(drop=True))


def test_snapshots_off_records_nothing_and_bad_intervals_are_refused():
    model = Ecosystem(population={"n_agents": 30}, seed=1)
    model.run(5)
    models, trust = model.snapshots()
    assert len(models) == len(trust) == 0 and list(models.columns) == list(MODEL_COLUMNS)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="snapshots_every: must be a whole number >= 0"):
            Ecosystem(population={"n_agents": 30}, snapshots_every=bad, seed=1)


def test_recording_draws_nothing_from_the_model(recorded):
    plain = build(seed=4, schedule={"interval": 5}, **SHADOWS)
    plain.run(63)
    pd.testing.assert_frame_equal(plain.time_series(), recorded[0].time_series())


# ------------------------------------------------------------------- run folder and config


def test_a_run_writes_the_same_snapshot_bytes_for_the_same_seed(tmp_path):
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        sim.run([*SMALL, "record.snapshots_every=3"], output_dir=folder)
    for name in SNAPSHOT_FILES:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()
    listed = json.loads((folders[0] / DONE).read_text())["files"]
    assert set(SNAPSHOT_FILES) <= set(listed)  # covered by the done marker
    models, trust = read_snapshots(folders[0])
    assert sorted(models["step"].unique()) == [0, 3, 6, 9, 12, 15, 18, 21, 24, 25]
    per_step = trust.groupby("step").size()
    assert per_step.nunique() == 1 and per_step.iloc[0] > 0  # every edge at every snapshot


def test_snapshots_off_writes_no_snapshot_file_and_the_reader_names_the_option(tmp_path):
    sim.run([*SMALL, "record.snapshots_every=0"], output_dir=tmp_path)
    assert not any((tmp_path / name).exists() for name in SNAPSHOT_FILES)
    with pytest.raises(MissingSnapshots) as error:
        read_snapshots(tmp_path)
    message = str(error.value)
    assert "record.snapshots_every" in message and "\n" not in message


def test_auto_records_every_step_up_to_1000_models_and_nothing_above():
    assert compose([])[0].record.every(200) == 1
    assert compose(["population.n_agents=1000"])[0].record.every(1000) == 1
    big = compose(["population.n_agents=2000"])[0]
    assert big.record.every(big.population.n_agents) == 0
    assert compose(["record.snapshots_every=7"])[0].record.every(200) == 7


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("record.snapshots_every=-1", "record.snapshots_every: must be auto or a whole number"),
        ("record.snapshots_every=often", "record.snapshots_every: must be auto or a whole"),
        ("record.snapshots_every=1.5", "record.snapshots_every: must be auto or a whole"),
        ("record.animation=maybe", "record.animation"),
    ],
)
def test_bad_record_values_are_refused_naming_the_key(override, problem):
    with pytest.raises(ConfigError, match=problem):
        compose([override])


def test_an_animation_without_snapshots_is_refused_naming_snapshots_every():
    with pytest.raises(ConfigError, match="record.animation: needs snapshots") as error:
        compose(["record.animation=true", "record.snapshots_every=0"])
    assert "record.snapshots_every" in str(error.value)
    with pytest.raises(ConfigError, match="records none for 2000 models"):
        compose(["record.animation=true", "population.n_agents=2000"])


def test_cli_refuses_a_bad_interval_with_one_line_and_status_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "record.snapshots_every=-3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "record.snapshots_every" in lines[0] and "-3" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_snapshots_cannot_fit_is_refused_naming_the_interval():
    from sim.app.resources import check_resources, estimate

    fits = ["population.n_agents=100000", "steps=2000", "schedule=none", "limits.memory_gb=2"]
    check_resources(compose([*fits, "record.snapshots_every=0"])[0])
    app = compose([*fits, "record.snapshots_every=1"])[0]
    # 2,002 snapshots of 100,000 models and 600,000 edges: 200 and 40 bytes each.
    assert estimate(app).snapshot_memory == pytest.approx(2002 * (100_000 * 200 + 600_000 * 40))
    with pytest.raises(ConfigError, match=r"^record.snapshots_every: .* got 1$"):
        check_resources(app)


def test_snapshots_left_by_an_earlier_run_in_the_folder_are_not_read(tmp_path):
    sim.run([*SMALL, "record.snapshots_every=5"], output_dir=tmp_path)
    assert len(read_snapshots(tmp_path)[0]) > 0
    sim.run([*SMALL, "record.snapshots_every=0"], output_dir=tmp_path)  # the same folder again
    assert (tmp_path / SNAPSHOT_FILES[0]).exists()  # the earlier run's, not in the marker
    with pytest.raises(MissingSnapshots, match="of a finished run.*record.snapshots_every"):
        read_snapshots(tmp_path)
