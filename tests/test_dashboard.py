"""The dashboard without a browser: its model factory builds the command line's model, bad
control values are refused with the command line's one line, and the time-series panel shows
the run's own numbers."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

pytest.importorskip("solara", reason="needs the dashboard extra: pip install -e .[dashboard]")

from sim import ConfigError, run  # noqa: E402
from sim.app.dashboard.model import CONTROLS, DashboardEcosystem, options, overrides  # noqa: E402
from sim.viz.series import PANELS, SeriesPanel, running_rates  # noqa: E402

SETTINGS = {
    "n_agents": 60,
    "population": "single_family",
    "topology": "erdos_renyi",
    "contagion": "reciprocity",
    "monitoring_kind": "action",
    "audit_rate": 0.2,
    "kill_switch": True,
    "operator_cleanup": True,
    "quorum": 2,
    "seed": 7,
}


def same(a: dict, b: dict) -> bool:
    """Equal summaries, NaN equal to NaN."""

    def eq(x, y):
        return x == y or (
            isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)
        )  # noqa: E501

    return a.keys() == b.keys() and all(eq(a[k], b[k]) for k in a)


def test_the_controls_build_the_command_lines_model():
    model = DashboardEcosystem(**SETTINGS)
    model.run(15)
    cli = run([*overrides(**SETTINGS), "steps=15"])
    assert same(model.summary(), cli.summary)
    assert model.config.pipeline.shutdown_mechanism == "kill_switch"
    assert model.config.pipeline.cleanup == "operator"
    assert model.config.interventions.quorum == 2
    assert model.config.population.families == {"gemini-3-pro": 1.0}


def test_switched_off_switches_leave_the_default_pipeline():
    model = DashboardEcosystem(n_agents=30)
    assert (model.config.pipeline.shutdown_mechanism, model.config.pipeline.cleanup) == (
        "config",
        "delegated",
    )
    assert model.fleet.n == 30


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_agents": 0}, "population.n_agents: must be >= 1, got 0"),
        ({"n_agents": "1,2"}, "population.n_agents: must be a number, got '1,2'"),
        ({"population": "nope"}, "population: must be one of honest, mixed_fleet"),
        ({"topology": "file"}, "graph: must be one of barabasi_albert"),
        ({"contagion": "sir"}, "contagion: must be one of none"),
        ({"monitoring_kind": "both"}, "operator.monitoring_kind: must be one of action, output"),
        ({"audit_rate": 1.5}, "operator.audit_rate: must be in [0.0, 1.0], got 1.5"),
        ({"quorum": 0}, "interventions.quorum: must be >= 1, got 0"),
        ({"kill_switch": "yes"}, "pipeline.shutdown_mechanism (kill switch): must be true or"),
        ({"seed": -1}, "seed: must be a whole number"),
        ({"topology": "labs", "n_agents": 5, "quorum": 1}, "graph.mean_degree: must be <="),
        ({"n_agents": 20, "quorum": 5}, "interventions.quorum: must be <= the fleet's 4 overseers"),
    ],
)
def test_bad_control_values_are_refused_naming_the_key(change, message):
    with pytest.raises(ConfigError) as caught:
        DashboardEcosystem(**{**SETTINGS, **change})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_every_control_is_a_keyword_of_the_model_and_every_option_builds():
    keywords = set(inspect.signature(DashboardEcosystem.__init__).parameters) - {"self"}
    assert set(CONTROLS) == keywords
    defaults = DashboardEcosystem(n_agents=40)
    parameters = inspect.signature(DashboardEcosystem).parameters
    assert {name: c["value"] for name, c in CONTROLS.items()} == {
        name: parameters[name].default for name in CONTROLS
    }
    assert defaults.config.population.n_agents == 40
    # The sliders' ranges admit no value that a topology or the quorum refuses.
    smallest, largest_quorum = CONTROLS["n_agents"]["min"], CONTROLS["quorum"]["max"]
    for topology in CONTROLS["topology"]["values"]:
        model = DashboardEcosystem(n_agents=smallest, topology=topology, quorum=largest_quorum)
        assert model.config.graph.topology == topology
    for preset in CONTROLS["population"]["values"]:
        assert DashboardEcosystem(n_agents=40, population=preset).fleet.n == 40
    assert "file" not in CONTROLS["topology"]["values"]
    assert CONTROLS["contagion"]["values"] == options("contagion")


def test_running_rates_end_at_the_summary_and_are_undefined_before_a_shutdown():
    model = DashboardEcosystem(n_agents=80, seed=2)
    model.run(25)
    rates = running_rates(model.time_series())
    summary = model.summary()
    assert len(rates) == 26
    assert rates["loss_of_control"].iloc[-1] == pytest.approx(summary["loss_of_control"])
    assert rates["false_pass_rate"].iloc[-1] == pytest.approx(summary["false_pass_rate"])
    assert rates["shadows_alive"].iloc[-1] == summary["shadows_alive"]
    series = model.time_series()
    before = series["intended"].cumsum() == 0
    assert before.iloc[0] and not before.iloc[-1]
    assert rates.loc[before.to_numpy(), "loss_of_control"].isna().all()
    assert rates.loc[~before.to_numpy(), "loss_of_control"].between(0, 1).all()


def test_the_panel_updates_its_lines_in_place_and_shows_a_cursor():
    model = DashboardEcosystem(n_agents=50, seed=1)
    panel = SeriesPanel()
    panel.update(running_rates(model.time_series()))
    lines = dict(panel.lines)
    assert set(lines) == {c for columns in PANELS.values() for c in columns}
    assert not any(c.get_visible() for c in panel.cursors)
    model.run(12)
    rates = running_rates(model.time_series())
    panel.update(rates, cursor=5)
    assert panel.lines == lines  # the same artists, new data
    x, y = panel.lines["protective_share"].get_data()
    np.testing.assert_array_equal(x, np.arange(13))
    np.testing.assert_allclose(y, model.time_series()["protective_share"])
    assert all(c.get_visible() and list(c.get_xdata()) == [5, 5] for c in panel.cursors)
    # Limits jump in coarse steps, so that most frames redraw the lines alone.
    assert panel.axes[0].get_xlim() == (0.0, 50.0)
    shown = panel.png()
    assert shown.startswith(b"\x89PNG")
    panel.update(rates, cursor=9)
    assert panel.png() != shown  # the cursor moved
    model.run(40)
    panel.update(running_rates(model.time_series()))
    assert panel.axes[0].get_xlim() == (0.0, 100.0)
    top = panel.axes[3].get_ylim()[1]
    assert top in (1, 2, 5, 10, 20, 50, 100) and top >= model.time_series()["shadows_alive"].max()


def test_the_live_picture_keeps_its_layout_and_colours_each_slot_by_its_model():
    from matplotlib.colors import to_rgba

    from sim.app.dashboard.views import ModelPicture
    from sim.model.snapshots import model_state
    from sim.viz.layout import stable_layout
    from sim.viz.network import NOT_PROTECTIVE, PROTECTIVE

    model = DashboardEcosystem(n_agents=60, seed=4)
    picture = ModelPicture(model)
    net = model.network
    np.testing.assert_array_equal(
        picture.picture.layout, stable_layout(60, net.src, net.dst, seed=4)
    )
    first = picture.png()
    assert first.startswith(b"\x89PNG")
    nodes = picture.picture.view.nodes
    before = nodes.get_offsets().copy()
    crossed = 0
    for _ in range(12):
        model.step()
        picture.png()
        crossed += len(picture.picture.view.crosses.get_offsets())
        active = model_state(model).query("status == 'active'").sort_values("slot")
        expected = np.where(active["protective"], PROTECTIVE, NOT_PROTECTIVE)
        np.testing.assert_allclose(nodes.get_facecolors(), [to_rgba(c) for c in expected])
    np.testing.assert_array_equal(nodes.get_offsets(), before)  # nodes never move
    # Every model decommissioned in the run was crossed once, in the picture after it left;
    # one shut down whose shadow copy lives on gets a ring instead.
    ended = model.agent_table().query("status != 'active'")["status"]
    assert crossed > 0 and crossed == (ended == "decommissioned").sum()
    summary = model.summary()
    assert len(ended) == summary["total_executed"] + summary["total_penalties"]


def test_a_labs_fleet_is_laid_out_by_lab():
    from sim.app.dashboard.views import ModelPicture
    from sim.network.trust import lab_of
    from sim.viz.layout import stable_layout

    model = DashboardEcosystem(n_agents=80, topology="labs", seed=1)
    net, labs = model.network, lab_of(model.config.graph, 80)
    expected = stable_layout(80, net.src, net.dst, seed=1, groups=labs)
    np.testing.assert_array_equal(ModelPicture(model).picture.layout, expected)


def test_peersim_dashboard_refuses_a_folder_without_snapshots(tmp_path, capsys):
    from sim.app.dashboard.server import command, main

    assert main(["--replay", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "record.snapshots_every" in error
    assert main(["--replay", str(tmp_path / "absent")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    served = command("127.0.0.1", 8765)
    assert served[served.index("--host") + 1] == "127.0.0.1" and "--production" in served
