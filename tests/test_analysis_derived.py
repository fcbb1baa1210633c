"""Metrics derived from a sweep's time series (sim/analysis/derived.py), selecting runs, the
Pareto front of designs (sim/analysis/pareto.py) and its figure, and the Markdown rendering of
tables, on tables built by hand so that every expected number is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.analysis import AnalysisError, Sweep, paired_differences, summary_table
from sim.analysis.derived import endpoint_name, with_endpoints
from sim.analysis.pareto import pareto_front
from sim.analysis.render import to_markdown
from sim.viz.sweep import plot_tradeoff


def series_sweep() -> Sweep:
    """Two designs x two seeds; series ``x`` = start + slope x step over steps 0..4, with the
    steps stored out of order, so the first and last rows are not the endpoints."""
    runs, series = [], []
    for index, (design, seed, start, slope) in enumerate(
        [("a", 0, 0.5, 0.0), ("a", 1, 0.4, 0.01), ("b", 0, 0.5, 0.05), ("b", 1, 0.4, 0.06)]
    ):
        run = f"r{index}"
        runs.append({"run": run, "status": "ok", "design": design, "seed": seed, "m": 1.0})
        for step in (3, 0, 4, 1, 2):
            series.append({"run": run, "design": design, "seed": seed, "step": step,
                           "x": start + slope * step})  # fmt: skip
    return Sweep.from_tables(pd.DataFrame(runs), pd.DataFrame(series), ["design", "seed"])


def test_endpoints_are_the_first_and_last_steps_of_each_run():
    sweep = with_endpoints(series_sweep(), ["x"])
    runs = sweep.runs.set_index("run")
    assert runs[endpoint_name("x", "start")].tolist() == pytest.approx([0.5, 0.4, 0.5, 0.4])
    assert runs["x.end"].tolist() == pytest.approx([0.5, 0.44, 0.7, 0.64])
    assert runs["x.change"].tolist() == pytest.approx([0.0, 0.04, 0.2, 0.24])
    assert sweep.runs.attrs == series_sweep().runs.attrs
    assert {"x.start", "x.end", "x.change"} <= set(sweep.metrics)


def test_endpoints_feed_the_tables_like_any_metric():
    sweep = with_endpoints(series_sweep(), ["x"])
    table = summary_table(sweep, ["x.change"]).set_index("design")
    assert table.loc["a", "mean"] == pytest.approx(0.02)
    assert table.loc["b", "mean"] == pytest.approx(0.22)
    paired = paired_differences(sweep, ["x.change"], baseline={"design": "a"})
    assert paired["mean_diff"].item() == pytest.approx(0.2)  # both seeds differ by exactly 0.2
    assert paired["sd"].item() == pytest.approx(0.0)


def test_endpoints_of_an_unknown_series_or_a_taken_name_are_refused():
    with pytest.raises(AnalysisError, match="no metric 'y' in time_series.parquet"):
        with_endpoints(series_sweep(), ["y"])
    once = with_endpoints(series_sweep(), ["x"])
    with pytest.raises(AnalysisError, match="already has a column 'x.start'"):
        with_endpoints(once, ["x"])
    with pytest.raises(ValueError, match="endpoint must be one of start, end, change"):
        endpoint_name("x", "middle")


def test_a_run_without_a_time_series_is_refused():
    sweep = series_sweep()
    cut = Sweep.from_tables(sweep.runs, sweep.time_series[sweep.time_series["run"] != "r2"],
                            sweep.parameters)  # fmt: skip
    with pytest.raises(AnalysisError, match="run 'r2' has no time series"):
        with_endpoints(cut, ["x"])


def long_table(points: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """A summary table with metrics ``cost`` and ``loss`` per design, means as given."""
    rows = [
        {
            "design": d,
            "metric": m,
            "n": 3,
            "n_nan": 0,
            "mean": v,
            "sd": 0.1,
            "ci_low": v - 0.1,
            "ci_high": v + 0.1,
        }  # fmt: skip
        for d, pair in points.items()
        for m, v in zip(("cost", "loss"), pair, strict=True)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("points", "front"),
    [
        # c is beaten by a on both; d ties a on cost and is worse on loss
        ({"a": (1, 1), "b": (2, 0.5), "c": (3, 2), "d": (1, 1.5)}, ["a", "b"]),
        # equal points do not dominate each other
        ({"a": (1, 1), "b": (1, 1)}, ["a", "b"]),
        # a NaN mean is never on the front and dominates nothing
        ({"a": (np.nan, 0.0), "b": (2, 2), "c": (3, 1)}, ["b", "c"]),
        ({"a": (0, 5), "b": (1, 4), "c": (2, 3), "e": (3, 3)}, ["a", "b", "c"]),
    ],
)
def test_the_pareto_front_holds_exactly_the_non_dominated_designs(points, front):
    found = pareto_front(long_table(points), "cost", "loss")
    assert list(found.columns) == ["design", "cost", "loss", "dominated"]
    assert sorted(found.loc[~found["dominated"], "design"]) == front
    costs = found["cost"].dropna().tolist()
    assert costs == sorted(costs)


def test_the_pareto_front_refuses_unknown_metrics_and_single_settings():
    table = long_table({"a": (1, 1), "b": (2, 0)})
    with pytest.raises(AnalysisError, match="no metric 'price' in the table; metrics: cost, loss"):
        pareto_front(table, "price", "loss")
    with pytest.raises(AnalysisError, match="single setting"):
        pareto_front(table.drop(columns="design"), "cost", "loss")


def test_markdown_puts_each_metric_in_a_column_with_its_interval():
    text = to_markdown(long_table({"a": (1, 0.25), "b": (2, np.nan)}), digits=2)
    assert text.splitlines() == [
        "| design | cost | loss |",
        "|:--|--:|--:|",
        "| a | 1.00 [0.90, 1.10] | 0.25 [0.15, 0.35] |",
        "| b | 2.00 [1.90, 2.10] | n/a [n/a, n/a] |",
    ]


def test_markdown_of_a_paired_table_shows_the_differences():
    sweep = with_endpoints(series_sweep(), ["x"])
    paired = paired_differences(sweep, ["x.change"], baseline={"design": "a"})
    lines = to_markdown(paired).splitlines()
    assert lines[0] == "| design | baseline | x.change |"
    assert lines[2].startswith("| b | design=a | 0.200 [0.200, 0.200]")


def test_select_keeps_the_matching_runs_and_their_series():
    chosen = series_sweep().select({"design": "b"})
    assert chosen.runs["run"].tolist() == ["r2", "r3"]
    assert sorted(set(chosen.time_series["run"])) == ["r2", "r3"]
    assert len(chosen.time_series) == 10
    with pytest.raises(AnalysisError, match="no run has design=c"):
        series_sweep().select({"design": "c"})
    with pytest.raises(AnalysisError, match="no parameter 'colour'"):
        series_sweep().select({"colour": "b"})


def test_the_tradeoff_figure_is_a_png_and_refuses_an_unknown_front(tmp_path):
    table = long_table({"a": (1, 1), "b": (2, 0.5), "c": (3, 2)})
    front = pareto_front(table, "cost", "loss")
    labels = [f"design={d}" for d in front.loc[~front["dominated"], "design"]]
    plot_tradeoff(table, "cost", "loss", tmp_path / "front.png", front=labels, log_x=True)
    assert (tmp_path / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no setting 'design=z' in the table"):
        plot_tradeoff(table, "cost", "loss", tmp_path / "x.png", front=["design=z"])
    with pytest.raises(ValueError, match="no metric 'price'"):
        plot_tradeoff(table, "price", "loss", tmp_path / "x.png")
