"""Sensitivity analysis: SALib designs run as a Hydra sweep (hydra/sweeper=sensitivity), and
their indices (peersim-sensitivity)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from sim.app.sensitivity import DESIGN, Design, jobs, read_design, record
from sim.app.sensitivity_report import indices
from sim.core.errors import ConfigError
from sim.io.outputs import DONE, write_json
from tests.commands import run_module

TIMEOUT = 300
TINY = ["population.n_agents=20", "steps=12", "progress=false", "figures=false"]
#: Metrics defined in every run, however small (loss of control needs an intended shutdown).
METRICS = "final_protective_share,final_fleet_quality"
FACTORS = "{contagion.learning_rate:[0.0,0.2],operator.audit_rate:[0.0,0.2]}"


def sweeper(**changes) -> OmegaConf:
    node = {"method": "morris", "samples": 4, "levels": 4, "seed": 0, "select": None,
            "factors": {"a.x": [0.0, 1.0], "a.y": [10.0, 20.0], "a.z": [-1.0, 1.0]}}  # fmt: skip
    return OmegaConf.create({**node, **changes})


def config(**changes) -> OmegaConf:
    return OmegaConf.create({"hydra": {"sweeper": sweeper(**changes)}})


def run(*args: str, module: str = "sim", cwd: Path) -> subprocess.CompletedProcess:
    return run_module(module, *args, cwd=cwd, timeout=TIMEOUT)


# ----------------------------------------------------------------------------- designs


@pytest.mark.parametrize("method, per_sample", [("morris", 4), ("sobol", 5)])
def test_a_design_has_the_expected_points_within_bounds_and_repeats(method, per_sample):
    design = Design.from_config(sweeper(method=method, samples=8))
    points = design.points()
    assert points.shape == (8 * per_sample, 3)  # Morris: k + 1 a trajectory; Sobol: k + 2
    for column, (low, high) in enumerate(design.factors.values()):
        assert low <= points[:, column].min() and points[:, column].max() <= high
    assert np.array_equal(points, Design.from_config(sweeper(method=method, samples=8)).points())
    other = Design.from_config(sweeper(method=method, samples=8, seed=1)).points()
    assert not np.array_equal(points, other)


def test_morris_points_lie_on_the_grid_and_overrides_carry_them_exactly():
    design = Design.from_config(sweeper(levels=4))
    points = design.points()
    assert set(np.unique(points[:, 0])) <= {0.0, 0.333333, 0.666667, 1.0}
    overrides = design.overrides(points[0])
    assert [o.partition("=")[0] for o in overrides] == ["a.x", "a.y", "a.z"]
    assert [float(o.partition("=")[2]) for o in overrides] == points[0].tolist()


def test_select_keeps_only_the_named_factors():
    design = Design.from_config(sweeper(select=["a.z", "a.x"]))
    assert list(design.factors) == ["a.z", "a.x"]
    assert design.points().shape[1] == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"method": "fast"}, "hydra.sweeper.method: must be one of morris, sobol, got 'fast'"),
        ({"samples": 1}, "hydra.sweeper.samples: must be a whole number >= 2, got 1"),
        ({"levels": 2.5}, "hydra.sweeper.levels: must be a whole number >= 2, got 2.5"),
        ({"factors": {}}, "hydra.sweeper.factors: must name at least one config key"),
        ({"factors": {"a.x": [1.0, 1.0]}},
         "hydra.sweeper.factors.a.x: must be [low, high] with low < high, got [1.0, 1.0]"),
        ({"factors": {"a.x": "wide"}},
         "hydra.sweeper.factors.a.x: must be [low, high] with low < high, got 'wide'"),
        ({"select": ["a.w"]}, "hydra.sweeper.select: must list some of the factors (a.x, a.y, "
                              "a.z), got ['a.w']"),
    ],
)  # fmt: skip
def test_a_bad_design_names_its_key(changes, message):
    with pytest.raises(ConfigError) as raised:
        Design.from_config(sweeper(**changes))
    assert str(raised.value).startswith(message)


def test_jobs_cross_each_distinct_point_with_the_command_line_sweep():
    design, runs = jobs(config(), [["replicate=0"], ["replicate=1"]])
    distinct = {tuple(design.overrides(p)) for p in design.points()}
    assert len(runs) == 2 * len(distinct)
    assert len({tuple(r) for r in runs}) == len(runs)  # no run twice
    assert runs[0][-1] == "replicate=0" and runs[1][-1] == "replicate=1"
    with pytest.raises(ConfigError, match="a.x is a factor of the design and may not also be"):
        jobs(config(), [["a.x=0.5"]])


# ----------------------------------------------------------------------------- indices


def synthetic(method: str, function, samples: int) -> tuple[dict, np.ndarray]:
    design = Design.from_config(sweeper(method=method, samples=samples))
    points = design.points()
    return record(design, [], []), np.array([function(*p) for p in points])


def test_morris_ranks_a_known_function_and_finds_the_inert_factor():
    # y = 10 x (range 1) + 0 y + z**2 (range 2): effects 10, 0, about 1.3
    found, outputs = synthetic("morris", lambda x, y, z: 10 * x + z**2, samples=20)
    table = indices(found, outputs).set_index("factor")
    assert list(table.index) == ["a.x", "a.z", "a.y"]
    assert table.loc["a.x", "mu_star"] == pytest.approx(
        10.0, rel=1e-5
    )  # linear: exact but rounding
    assert table.loc["a.x", "sigma"] == pytest.approx(0.0, abs=1e-4)
    assert table.loc["a.y", "mu_star"] == 0.0
    assert 0.5 < table.loc["a.z", "mu_star"] < 2.0


def test_the_record_keeps_the_factor_order_through_the_json_writer(tmp_path):
    """Factors named out of alphabetical order: the indices still name the factor that moves
    the output (the JSON writer sorts a dict's keys, so the record must not be a dict)."""
    design = Design.from_config(
        sweeper(factors={"b.moves": [0.0, 1.0], "a.inert": [0.0, 1.0]}, samples=10)
    )
    write_json(tmp_path / DESIGN, record(design, [], []))
    found = read_design(tmp_path)
    outputs = np.array([5 * b for b, _ in np.array(found["points"])])
    table = indices(found, outputs).set_index("factor")
    assert table.loc["b.moves", "mu_star"] == pytest.approx(5.0, rel=1e-5)
    assert table.loc["a.inert", "mu_star"] == 0.0


def test_sobol_indices_of_an_additive_function_match_its_variances():
    # y = x + y/10 (uniform on [0,1] and [10,20]): Var = 1/12 and 1/12; each half of it.
    found, outputs = synthetic("sobol", lambda x, y, z: x + y / 10, samples=1024)
    table = indices(found, outputs).set_index("factor")
    for factor in ("a.x", "a.y"):
        assert table.loc[factor, "ST"] == pytest.approx(0.5, abs=0.05)  # tolerance: N = 1024
        assert table.loc[factor, "S1"] == pytest.approx(0.5, abs=0.05)
    assert abs(table.loc["a.z", "ST"]) < 0.02


# ----------------------------------------------------------------------------- the commands


def test_a_sensitivity_sweep_runs_resumes_and_reports(tmp_path):
    sweep_dir = tmp_path / "sweep"
    args = ["-m", "hydra/sweeper=sensitivity", *TINY, "hydra.sweeper.samples=2",
            f"hydra.sweeper.factors={FACTORS}", "hydra.sweeper.select=[contagion.learning_rate,"
            "operator.audit_rate]", f"hydra.sweep.dir={sweep_dir}"]  # fmt: skip
    first = run(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    design = json.loads((sweep_dir / DESIGN).read_text())
    runs = len(design["runs"])
    assert len(design["points"]) == 6 and 2 <= runs <= 6  # a Morris grid may repeat a point
    assert f"[sweep] {runs} runs in {sweep_dir}: 0 already done (skipped), {runs} to run" in (
        first.stdout
    )
    assert f"[sweep] {runs}/{runs} done: {runs} computed" in first.stdout
    again = run(*args, cwd=tmp_path)
    assert f"[sweep] {runs}/{runs} done: 0 computed, {runs} skipped" in again.stdout

    report = run(str(sweep_dir), "--metrics", METRICS, "--out", str(tmp_path / "report"),
                 cwd=tmp_path, module="sim.app.sensitivity_report")  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert f"morris design: 2 factors, 6 points, {runs} runs" in report.stdout
    assert "final_protective_share" in report.stdout and "final_fleet_quality" in report.stdout
    for name in ("sensitivity_final_protective_share.csv", "sensitivity_final_fleet_quality.csv"):
        assert (tmp_path / "report" / name).read_text().startswith("factor,mu_star,")
    assert (tmp_path / "report" / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"

    (sweep_dir / design["runs"][0]["folder"] / DONE).unlink()  # a run left unfinished
    missing = run(str(sweep_dir), "--metrics", METRICS, cwd=tmp_path,
                  module="sim.app.sensitivity_report")  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1
    assert "no finished run with final_protective_share defined at the design point" in (
        missing.stderr
    )
    unknown = run(str(sweep_dir), "--metrics", "loss", cwd=tmp_path,
                  module="sim.app.sensitivity_report")  # fmt: skip
    assert unknown.returncode == 2 and "--metrics: unknown metric" in unknown.stderr


def test_a_bad_design_stops_the_sweep_before_any_folder(tmp_path):
    sweep_dir = tmp_path / "sweep"
    done = run("-m", "hydra/sweeper=sensitivity", *TINY, "hydra.sweeper.method=fast",
               f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Invalid config: hydra.sweeper.method: must be one of morris, sobol, got 'fast'"
    )
    assert not sweep_dir.exists()


def test_no_design_in_a_folder_is_one_line(tmp_path):
    done = run(str(tmp_path), cwd=tmp_path, module="sim.app.sensitivity_report")
    assert done.returncode == 2
    assert done.stderr == (
        f"peersim-sensitivity: sweep_dir: no sensitivity design in {tmp_path} ({DESIGN})\n"
    )
