"""The analysis of a collected sweep (sim/analysis): intervals checked against scipy, NaN
left out and counted, a seeded bootstrap, paired differences on constructed data, refusals,
and the text rendering. Tables here are built by hand; the command line on a real sweep is
in tests/test_analysis_cli.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.analysis import (
    AnalysisError,
    Sweep,
    interval,
    paired_differences,
    summary_table,
    time_series_bands,
)
from sim.analysis.intervals import generator
from sim.analysis.render import to_text

DATA = [0.12, 0.40, 0.35, 0.81, 0.55, 0.27]


def scipy_t(values, level=0.95):
    values = np.asarray(values, dtype=float)
    return stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


def sweep_of(rows: list[dict], parameters: list[str], steps: int = 0) -> Sweep:
    """A Sweep from run rows (ok unless ``status`` says otherwise); with ``steps``, each run
    gets a time series whose ``x`` at step s is the run's ``a`` times s."""
    runs = pd.DataFrame([{"run": str(i), "status": "ok", **row} for i, row in enumerate(rows)])
    series = pd.DataFrame(
        [
            {"run": run["run"], **{p: run[p] for p in parameters}, "step": s, "x": run["a"] * s}
            for _, run in runs.iterrows()
            for s in range(steps)
        ]
    )
    return Sweep.from_tables(runs, series, parameters)


# ----------------------------------------------------------------------------- intervals


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_the_t_interval_is_scipys(level):
    found = interval(DATA, level=level)
    low, high = scipy_t(DATA, level)
    assert found.mean == pytest.approx(np.mean(DATA), rel=1e-12)
    assert found.sd == pytest.approx(np.std(DATA, ddof=1), rel=1e-12)
    assert (found.low, found.high) == (
        pytest.approx(low, rel=1e-12),
        pytest.approx(high, rel=1e-12),
    )
    assert (found.n, found.n_nan) == (6, 0)


def test_nan_values_are_left_out_and_counted():
    found = interval([np.nan, *DATA, np.nan])
    assert (found.n, found.n_nan) == (6, 2)
    assert found == dataclasses.replace(interval(DATA), n_nan=2)
    empty = interval([np.nan, np.nan])
    assert (empty.n, empty.n_nan) == (0, 2) and np.isnan([empty.mean, empty.low]).all()
    one = interval([0.3, np.nan])  # a mean, but no spread: the interval is undefined
    assert one.mean == 0.3 and np.isnan([one.sd, one.low, one.high]).all()


def test_constant_values_give_a_zero_width_interval():
    for method, rng in (("t", None), ("bootstrap", generator(0, "c"))):
        found = interval([0.5] * 5, method=method, rng=rng)
        assert found.low == found.high == 0.5 and found.sd == 0


def test_the_bootstrap_is_deterministic_given_its_seed():
    values = np.random.default_rng(1).random(30)  # enough distinct means for draws to show
    a = interval(values, method="bootstrap", rng=generator(7, "m", "s"))
    b = interval(values, method="bootstrap", rng=generator(7, "m", "s"))
    c = interval(values, method="bootstrap", rng=generator(8, "m", "s"))
    d = interval(values, method="bootstrap", rng=generator(7, "m", "other setting"))
    assert a == b
    assert (a.low, a.high) != (c.low, c.high) and (a.low, a.high) != (d.low, d.high)


def test_the_bootstrap_agrees_with_t_on_many_normal_values():
    # 400 normal values: both intervals estimate mean ± 1.96 sd/√n; their endpoints differ by
    # bootstrap Monte Carlo error (10,000 resamples: ~1% of the width) and the t/normal
    # quantile gap (0.3%), so 5% of the width is a wide margin.
    values = np.random.default_rng(3).normal(2.0, 1.0, 400)
    t = interval(values)
    boot = interval(values, method="bootstrap", rng=generator(0, "normal"))
    width = t.high - t.low
    assert abs(boot.low - t.low) < 0.05 * width and abs(boot.high - t.high) < 0.05 * width


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown interval method 'z'"):
        interval(DATA, method="z")
    with pytest.raises(ValueError, match="level must be in"):
        interval(DATA, level=95)
    with pytest.raises(ValueError, match="seeded Generator"):
        interval(DATA, method="bootstrap")


# ----------------------------------------------------------------------------- tables


@pytest.fixture
def design_sweep() -> Sweep:
    """Two designs x four seeds; metric ``a`` = seed effect (large) + design effect, ``b``
    NaN in one run, ``c`` set only for design y; ``flag`` constant (not varied)."""
    rows = []
    effect = {"x": 0.0, "y": 0.25}
    shift = {0: 0.0, 1: 1.0, 2: 3.0, 3: 6.0}  # seeds differ far more than designs
    noise = {("x", 0): 0.01, ("x", 1): -0.02, ("x", 2): 0.0, ("x", 3): 0.03,
             ("y", 0): -0.01, ("y", 1): 0.02, ("y", 2): 0.04, ("y", 3): -0.03}  # fmt: skip
    for design in ("x", "y"):
        for seed in range(4):
            rows.append({"design": design, "seed": seed, "flag": True,
                         "a": shift[seed] + effect[design] + noise[design, seed],
                         "b": np.nan if (design, seed) == ("x", 2) else float(seed),
                         "c": 1.0 if design == "y" else np.nan})  # fmt: skip
    return sweep_of(rows, ["design", "seed", "flag"], steps=3)


def test_the_table_has_one_row_per_setting_and_metric_with_scipys_numbers(design_sweep):
    assert design_sweep.varied == ["design"]  # seed pairs runs; flag is constant
    table = summary_table(design_sweep, ["a", "b"])
    assert list(table.columns) == ["design", "metric", "n", "n_nan", "mean", "sd", "ci_low",
                                   "ci_high"]  # fmt: skip
    assert list(zip(table["design"], table["metric"], strict=True)) == [
        ("x", "a"), ("y", "a"), ("x", "b"), ("y", "b")]  # fmt: skip
    runs = design_sweep.runs
    for _, row in table.iterrows():
        values = runs.loc[runs["design"] == row["design"], row["metric"]].dropna()
        low, high = scipy_t(values)
        assert row["n"] == len(values) and row["n_nan"] == 4 - len(values)
        assert row["ci_low"] == pytest.approx(low) and row["ci_high"] == pytest.approx(high)
    assert table.loc[(table.design == "x") & (table.metric == "b"), "n_nan"].item() == 1


def test_an_unset_parameter_is_a_setting_of_its_own():
    # graph set by two of five runs: the other three ran with the default, one setting.
    cases = [(None, 1, 1.0), ("ws", 1, 5.0), (None, 2, 2.0), ("ws", 2, 7.0), (None, 1, 6.0)]
    rows = [{"graph": g, "k": k, "a": a} for g, k, a in cases]
    table = summary_table(sweep_of(rows, ["graph", "k"]), ["a"], by=["graph"])
    assert table["graph"].isna().tolist() == [False, True]  # sorted, unset last
    assert table["n"].tolist() == [2, 3] and table["mean"].tolist() == [6.0, 3.0]
    by_both = summary_table(sweep_of(rows, ["graph", "k"]), ["a"])
    assert by_both["n"].tolist() == [1, 1, 2, 1] and by_both["mean"].tolist() == [5, 7, 3.5, 2]


def test_without_a_varied_key_all_runs_are_one_setting(design_sweep):
    table = summary_table(design_sweep, ["a"], by=[])
    assert len(table) == 1 and table["n"].item() == 8
    assert table["mean"].item() == pytest.approx(design_sweep.runs["a"].mean())


def test_a_bootstrap_cell_does_not_depend_on_the_other_cells(design_sweep):
    both = summary_table(design_sweep, ["a", "b"], method="bootstrap", resamples=2000)
    alone = summary_table(design_sweep, ["b"], method="bootstrap", resamples=2000)
    pd.testing.assert_frame_equal(both[both.metric == "b"].reset_index(drop=True), alone)
    again = summary_table(design_sweep, ["a", "b"], method="bootstrap", resamples=2000)
    pd.testing.assert_frame_equal(both, again)


def test_time_series_bands_are_per_setting_and_step(design_sweep):
    bands = time_series_bands(design_sweep, ["x"])
    assert len(bands) == 2 * 3
    runs = design_sweep.runs
    for _, row in bands.iterrows():
        values = runs.loc[runs["design"] == row["design"], "a"] * row["step"]
        assert row["mean"] == pytest.approx(values.mean())
        if row["step"] > 0:
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(scipy_t(values))


def test_unknown_names_are_one_line_errors(design_sweep):
    with pytest.raises(AnalysisError, match=r"no metric 'aa' in runs.parquet \(did you mean a\?\)"):
        summary_table(design_sweep, ["aa"])
    with pytest.raises(AnalysisError, match="'design' is a parameter of this sweep, not a metric"):
        summary_table(design_sweep, ["design"])
    with pytest.raises(AnalysisError, match="no metric 'run' in runs.parquet; 3 numeric metrics"):
        summary_table(design_sweep, ["run"])
    with pytest.raises(AnalysisError, match=r"no parameter 'desing' .*did you mean design\?"):
        summary_table(design_sweep, by=["desing"])
    with pytest.raises(AnalysisError, match="no metric 'a' in time_series.parquet"):
        time_series_bands(design_sweep, ["a"])


def test_tables_without_their_parameter_list_are_refused():
    runs = pd.DataFrame({"run": ["0"], "status": ["ok"], "a": [1.0]})
    with pytest.raises(AnalysisError, match="does not list its parameter columns"):
        Sweep.from_tables(runs, pd.DataFrame())


def test_runs_that_are_not_ok_are_left_out_and_counted():
    rows = [{"p": 1, "a": 1.0}, {"p": 1, "a": 3.0}, {"p": 1, "a": np.nan, "status": "failed"}]
    sweep = sweep_of(rows, ["p"])
    assert sweep.not_ok == 1
    table = summary_table(sweep, ["a"])
    assert (table["n"].item(), table["n_nan"].item(), table["mean"].item()) == (2, 0, 2.0)


# ----------------------------------------------------------------------------- paired


def test_paired_differences_match_the_differences_of_matched_runs(design_sweep):
    table = paired_differences(design_sweep, ["a", "b", "c"])
    a = table[table.metric == "a"].iloc[0]
    runs = design_sweep.runs.set_index(["design", "seed"])
    deltas = [runs.loc[("y", s), "a"] - runs.loc[("x", s), "a"] for s in range(4)]
    assert (a["design"], a["baseline"], a["n_pairs"], a["n_unpaired"]) == ("y", "design=x", 4, 0)
    assert a["mean_diff"] == pytest.approx(0.25 + np.mean([-0.02, 0.04, 0.04, -0.06]))
    assert (a["ci_low"], a["ci_high"]) == pytest.approx(scipy_t(deltas))
    # Pairing removes the seed effect: the paired interval is far narrower than either mean's.
    unpaired = summary_table(design_sweep, ["a"])
    assert a["ci_high"] - a["ci_low"] < 0.1 * (unpaired["ci_high"] - unpaired["ci_low"]).min()
    b = table[table.metric == "b"].iloc[0]  # design x has NaN at seed 2: that pair is out
    assert (b["n_pairs"], b["n_nan"], b["mean_diff"], b["sd"]) == (3, 1, 0.0, 0.0)
    c = table[table.metric == "c"].iloc[0]  # NaN in every baseline run: nothing to compare
    assert (c["n_pairs"], c["n_nan"]) == (0, 4) and np.isnan(c["mean_diff"])


def test_the_baseline_can_be_chosen(design_sweep):
    table = paired_differences(design_sweep, ["a"], baseline={"design": "y"})
    assert (table["design"].item(), table["baseline"].item()) == ("x", "design=y")
    assert table["mean_diff"].item() < 0
    with pytest.raises(AnalysisError, match=r"no design design=z \(designs: design=x; design=y\)"):
        paired_differences(design_sweep, ["a"], baseline={"design": "z"})


def test_runs_without_a_partner_are_counted():
    rows = [{"d": d, "seed": s, "a": float(s)} for d in ("x", "y") for s in range(4)
            if (d, s) != ("y", 3)]  # fmt: skip
    table = paired_differences(sweep_of(rows, ["d", "seed"]), ["a"])
    assert (table["n_pairs"].item(), table["n_unpaired"].item()) == (3, 1)


def test_other_varied_keys_split_the_comparison_into_strata():
    rows = [{"d": d, "g": g, "seed": s, "a": s + (2.0 if d == "y" else 0.0) + (10 if g else 0)}
            for d in ("x", "y") for g in (0, 1) for s in range(3)]  # fmt: skip
    table = paired_differences(sweep_of(rows, ["d", "g", "seed"]), ["a"], by=["d"])
    assert list(table.columns[:4]) == ["g", "d", "baseline", "metric"]
    assert table["g"].tolist() == [0, 1] and table["n_pairs"].tolist() == [3, 3]
    assert table["mean_diff"].tolist() == pytest.approx([2.0, 2.0])


@pytest.mark.parametrize(
    ("rows", "parameters", "by", "message"),
    [
        ([{"d": "x", "seed": 0, "a": 1.0}, {"d": "y", "seed": 1, "a": 1.0}], ["d", "seed"],
         None, "d=y and d=x have no seed in common"),
        ([{"d": "x", "seed": 0, "a": 1.0}, {"d": "x", "seed": 1, "a": 1.0}], ["d", "seed"],
         ["d"], r"only one design \(d=x\)"),
        ([{"d": "x", "seed": 0, "a": 1.0}, {"d": "y", "seed": 1, "a": 1.0}], ["d", "seed"],
         ["seed"], "seed pairs the runs"),
        ([{"d": "x", "seed": 0, "a": 1.0}, {"d": "y", "seed": None, "a": 1.0}], ["d", "seed"],
         None, "1 of 2 runs do not set seed"),
        ([{"seed": 0, "a": 1.0}, {"seed": 1, "a": 1.0}], ["seed"], None,
         "varies nothing but seed and replicate"),
        ([{"d": "x", "k": 0, "seed": 0, "a": 1.0}, {"d": "x", "k": 1, "seed": 0, "a": 1.0},
          {"d": "y", "k": 0, "seed": 0, "a": 1.0}], ["d", "k", "seed"], ["d"],
         r"only one design \(d=x\) in k=1; vary d"),
    ],
)  # fmt: skip
def test_runs_that_cannot_be_paired_are_refused(rows, parameters, by, message):
    with pytest.raises(AnalysisError, match=message):
        paired_differences(sweep_of(rows, parameters), ["a"], by=by)


def test_two_runs_of_a_design_with_one_seed_are_refused():
    rows = [{"d": "x", "seed": 0, "a": 1.0}, {"d": "x", "seed": 0, "a": 2.0},
            {"d": "y", "seed": 0, "a": 1.0}]  # fmt: skip
    with pytest.raises(AnalysisError, match="2 runs of d=x have seed=0"):
        paired_differences(sweep_of(rows, ["d", "seed"]), ["a"])
    without_seeds = [{k: v for k, v in row.items() if k != "seed"} for row in rows]
    with pytest.raises(AnalysisError, match="2 runs of d=x and no seed or replicate"):
        paired_differences(sweep_of(without_seeds, ["d"]), ["a"])


def test_one_run_per_design_without_seeds_is_one_pair():
    rows = [{"d": "x", "a": 1.0}, {"d": "y", "a": 1.5}, {"d": None, "a": 3.0}]
    table = paired_differences(sweep_of(rows, ["d"]), ["a"], baseline={"d": None})
    assert table["baseline"].tolist() == ["d=default"] * 2
    assert table["d"].tolist() == ["x", "y"] and table["mean_diff"].tolist() == [-2.0, -1.5]
    assert table["n_pairs"].tolist() == [1, 1] and table["sd"].isna().all()


# ----------------------------------------------------------------------------- text


def test_the_text_table_is_aligned_and_says_its_method(design_sweep):
    table = summary_table(design_sweep, ["b", "c"])
    table.loc[0, "design"] = None  # an unset parameter
    lines = to_text(table).splitlines()
    assert lines[0].startswith("# 95% CI: t interval on the mean; n = runs used")
    header = lines[1]
    for line in lines[2:]:  # numbers right-aligned under their column names
        assert len(line) == len(header)
    assert lines[2].split() == ["default", "b", "3", "1", "1.333", "1.528", "-2.461", "5.128"]
    assert lines[4].split()[4:] == ["n/a"] * 4  # c: no value in design x
    boot = to_text(summary_table(design_sweep, ["b"], method="bootstrap", resamples=500))
    assert boot.startswith("# 95% CI: percentile bootstrap of the mean (500 resamples, seed 0)")
    paired = to_text(paired_differences(design_sweep, ["a"], level=0.9))
    assert paired.startswith(
        "# 90% CI: t interval on the mean; n_pairs = pairs used, n_nan = pairs with a NaN side "
        "(left out), n_unpaired = runs without a partner"
    )
