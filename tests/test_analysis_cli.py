"""``peersim-collect --table`` and ``--paired`` (sim/app/tables.py) and the sweep figures
(sim/viz/sweep.py) on a tiny real sweep: 2 contagion modes x 3 replicates, 20 models, 5 steps."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.analysis import read_sweep, summary_table, time_series_bands
from sim.app.collect import main
from sim.io.collect import RUNS_TABLE
from sim.viz.sweep import plot_metric_vs_parameter, plot_small_multiples, plot_time_series

# A round every step, so that five steps make decisions to measure.
OVERRIDES = ["population.n_agents=20", "steps=5", "schedule.interval=1", "seed=0",
             "replicate=0,1,2", "contagion=none,social_learning", "progress=false",
             "figures=false"]  # fmt: skip
METRICS = "loss_of_control,false_pass_rate,final_protective_share,reproduction_number"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The sweep's run folders, made once by the real command line."""
    root = tmp_path_factory.mktemp("analysis") / "sweep"
    done = subprocess.run([sys.executable, "-m", "sim", "-m", *OVERRIDES,
                           f"hydra.sweep.dir={root}"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return root


@pytest.fixture
def sweep(built, tmp_path) -> Path:
    """A fresh copy of the sweep, not yet collected."""
    return Path(shutil.copytree(built, tmp_path / "sweep"))


def expected(values: np.ndarray) -> list[float]:
    """Mean, sd and the t interval by scipy; a constant leaves the interval at the mean
    (scipy says NaN for a zero scale), fewer than two values leave it undefined."""
    if len(values) < 2:
        return [values.mean() if len(values) else np.nan, np.nan, np.nan, np.nan]
    sd = values.std(ddof=1)
    if sd == 0:
        return [values.mean(), 0.0, values.mean(), values.mean()]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(),
                                 scale=stats.sem(values))  # fmt: skip
    return [values.mean(), sd, low, high]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_table_is_printed_with_the_runs_numbers(sweep, capsys):
    code, out, err = run(capsys, sweep, "--table", "--metrics", METRICS)
    assert code == 0
    assert "6 runs (6 ok, 0 failed, 0 incomplete)" in err  # the counts leave stdout to the table
    lines = out.splitlines()
    assert lines[0] == ("# 95% CI: t interval on the mean; n = runs used, n_nan = runs whose "
                        "value is NaN (left out)")  # fmt: skip
    assert lines[1].split() == ["contagion", "metric", "n", "n_nan", "mean", "sd", "ci_low",
                                "ci_high"]  # fmt: skip
    assert len(lines) == 2 + 2 * 4
    runs = pd.read_parquet(sweep / RUNS_TABLE)  # written as usual
    for line in lines[2:]:
        contagion, metric, n, n_nan, *numbers = line.split()
        values = runs.loc[runs["contagion"] == contagion, metric].dropna().to_numpy()
        assert (int(n), int(n_nan)) == (len(values), 3 - len(values))
        shown = [np.nan if x == "n/a" else float(x) for x in numbers]
        # printed to four significant digits
        assert shown == pytest.approx(expected(values), rel=1e-3, abs=1e-12, nan_ok=True)


def test_csv_holds_every_digit(sweep, capsys):
    code, out, _ = run(capsys, sweep, "--table", "--csv", "--ci", "bootstrap")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    expected = summary_table(read_sweep(sweep), method="bootstrap")
    assert table["metric"].tolist() == expected["metric"].tolist()
    np.testing.assert_allclose(table["ci_low"], expected["ci_low"], rtol=1e-12)


def test_paired_differences_are_printed(sweep, capsys):
    code, out, _ = run(capsys, sweep, "--paired", "--csv", "--metrics", METRICS)
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert table["contagion"].tolist() == ["social_learning"] * 4
    assert table["baseline"].unique().tolist() == ["contagion=none"]
    assert (table["n_pairs"] + table["n_nan"]).tolist() == [3, 3, 3, 3]
    runs = pd.read_parquet(sweep / RUNS_TABLE).set_index(["contagion", "replicate"])
    diff = runs.loc["social_learning", "loss_of_control"] - runs.loc["none", "loss_of_control"]
    assert table.loc[0, "mean_diff"] == pytest.approx(diff.mean())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "--metrics", "loss_of_contro"],
         "peersim-collect: no metric 'loss_of_contro' in runs.parquet (did you mean "
         "loss_of_control?)"),
        (["--table", "--by", "topology"], "peersim-collect: no parameter 'topology' in this sweep"),
        (["--paired", "--by", "replicate"], "peersim-collect: runs cannot be paired: replicate "
         "pairs the runs"),
    ],
)  # fmt: skip
def test_an_unknown_name_is_one_line_exit_2_and_nothing_written(sweep, capsys, args, message):
    code, out, err = run(capsys, sweep, *args)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1
    assert not (sweep / RUNS_TABLE).exists()


def test_table_options_need_a_table(sweep, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(sweep), "--metrics", "loss_of_control"])
    assert exit_.value.code == 2
    assert "--metrics needs --table or --paired" in capsys.readouterr().err


def test_the_figures_are_written(sweep, capsys, tmp_path):
    assert run(capsys, sweep)[0] == 0
    collected = read_sweep(sweep)
    table = summary_table(collected, ["loss_of_control"])
    bands = time_series_bands(collected, ["protective_share", "mean_propensity"])
    paths = [tmp_path / f"{name}.png" for name in ("parameter", "series", "multiples")]
    plot_metric_vs_parameter(table, "loss_of_control", "contagion", paths[0])
    plot_time_series(bands, "mean_propensity", paths[1])
    plot_small_multiples(bands, ["protective_share", "mean_propensity"], paths[2])
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    with pytest.raises(ValueError, match="no metric 'eval_error' in the table"):
        plot_time_series(bands, "eval_error", tmp_path / "x.png")
    with pytest.raises(ValueError, match="'seed' is not a key of the table"):
        plot_metric_vs_parameter(table, "loss_of_control", "seed", tmp_path / "x.png")


def test_a_numeric_parameter_is_drawn_as_a_band(tmp_path):
    table = pd.DataFrame({"rate": [0.0, 0.1, 0.3], "metric": "m", "mean": [1.0, 2.0, 3.0],
                          "ci_low": [0.5, 1.5, 2.5], "ci_high": [1.5, 2.5, 3.5]})  # fmt: skip
    plot_metric_vs_parameter(table, "m", "rate", tmp_path / "band.png")
    assert (tmp_path / "band.png").read_bytes().startswith(b"\x89PNG")
