"""The pictures themselves: node colours by state, the layout, frames of the animation, and
the animate command's errors."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_rgba
from PIL import Image

import sim
from sim import Ecosystem
from sim.app.animate import main
from sim.io.outputs import verify_run
from sim.viz.aggregate import AggregateView
from sim.viz.animation import render
from sim.viz.figures import figure
from sim.viz.layout import stable_layout
from sim.viz.network import NOT_PROTECTIVE, PROTECTIVE, ROLE_STYLE, NetworkView, draw_network
from sim.viz.spread import SpreadFigure, drawing_groups
from sim.viz.timeline import timeline_counts

#: Four slots on a directed cycle with one chord; slot 1's last model lives on as a shadow,
#: slot 2's was just decommissioned. Rows are out of slot order on purpose.
STATE = pd.DataFrame(
    {
        "step": 5,
        "slot": [3, 1, 0, 2, 1, 2],
        "unique_id": [4, 6, 1, 7, 2, 3],
        "family": ["b", "a", "a", "c", "a", "c"],
        "role": ["worker", "overseer", "worker", "worker", "worker", "overseer"],
        "status": ["active", "active", "active", "active", "shadow", "decommissioned"],
        "protective": [False, True, True, False, True, False],
        "propensity": np.array([0.9, 0.25, 0.5, 0.0, 0.7, 0.4], np.float32),
    }
)
EDGES = pd.DataFrame(
    {
        "step": 5,
        "src": [0, 0, 1, 1, 2, 3],
        "dst": [1, 2, 0, 2, 3, 0],
        "trust": np.array([0.2, 0.9, 0.6, 0.5, 0.1, 0.3], np.float32),
    }
)
LAYOUT = np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])
ACTIVE = STATE[STATE["status"] == "active"].sort_values("slot")


@pytest.fixture
def ax():
    yield figure().subplots()


def rgba(colours) -> np.ndarray:
    return np.array([to_rgba(c) for c in colours])


def test_each_node_is_filled_by_its_slots_protective_state(ax):
    nodes = draw_network(ax, STATE, EDGES, LAYOUT, color="protective")
    expected = rgba([PROTECTIVE, PROTECTIVE, NOT_PROTECTIVE, NOT_PROTECTIVE])  # slots 0..3
    np.testing.assert_allclose(nodes.get_facecolors(), expected)
    np.testing.assert_allclose(nodes.get_offsets(), LAYOUT)
    assert to_rgba(PROTECTIVE) != to_rgba(NOT_PROTECTIVE)


def test_propensity_colours_follow_the_colour_map_over_the_span(ax):
    nodes = draw_network(ax, STATE, EDGES, LAYOUT, color="propensity", span=(0.0, 1.0))
    expected = colormaps["viridis"](ACTIVE["propensity"].to_numpy())
    np.testing.assert_allclose(nodes.get_facecolors(), expected, atol=1e-6)
    # Over a narrower span the ends of the map go to the span's ends.
    view = NetworkView(ax, LAYOUT, EDGES["src"], EDGES["dst"], color="propensity", span=(0.25, 0.5))
    view.update(STATE, EDGES)
    fills = view.nodes.get_facecolors()
    viridis = colormaps["viridis"]
    np.testing.assert_allclose(fills[1], viridis(0.0), atol=1e-6)  # 0.25: the low end
    np.testing.assert_allclose(fills[0], viridis(1.0), atol=1e-6)  # 0.5: the high end
    np.testing.assert_allclose(fills[3], viridis(1.0), atol=1e-6)  # 0.9: clipped


def test_family_colours_follow_the_familys_place(ax):
    nodes = draw_network(ax, STATE, EDGES, LAYOUT, color="family", families=["c", "b", "a"])
    tab10 = colormaps["tab10"]
    np.testing.assert_allclose(nodes.get_facecolors(), [tab10(2), tab10(2), tab10(0), tab10(1)])


def test_roles_markers_and_edges_show_the_snapshot(ax):
    view = NetworkView(ax, LAYOUT, EDGES["src"], EDGES["dst"], families=["a", "b", "c"])
    view.update(STATE, EDGES)
    overseer, worker = ROLE_STYLE["overseer"], ROLE_STYLE["worker"]
    assert list(view.nodes.get_sizes()) == [worker[0], overseer[0], worker[0], worker[0]]
    np.testing.assert_allclose(view.nodes.get_edgecolors()[1], to_rgba(overseer[1]))
    np.testing.assert_allclose(view.crosses.get_offsets(), LAYOUT[[2]])  # decommissioned
    np.testing.assert_allclose(view.rings.get_offsets(), LAYOUT[[1]])  # shadow
    # One line per linked pair, shaded by the mean trust of its directions: pairs (0,1),
    # (0,2), (0,3), (1,2), (2,3) in order.
    np.testing.assert_allclose(view.edges.get_array(), [0.4, 0.9, 0.3, 0.5, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="not the edges of the drawn network"):
        view.update(STATE, EDGES.iloc[::-1])


def test_the_aggregate_view_colours_each_group_by_its_protective_share(ax):
    groups = np.array([0, 0, 1, 1])
    view = AggregateView(ax, groups, EDGES["src"], EDGES["dst"], families=["a", "b", "c"])
    view.update(STATE, EDGES)
    share = np.array([1.0, 0.0])  # group 0: slots 0 and 1 protective; group 1: neither
    np.testing.assert_allclose(view.nodes.get_facecolors(), view._colormap()(share))
    # Edges between the groups: 0->2 (0.9), 1->2 (0.5), 3->0 (0.3): one line, mean trust.
    np.testing.assert_allclose(view.edges.get_array(), [np.mean([0.9, 0.5, 0.3])], rtol=1e-6)
    np.testing.assert_allclose(view.rings.get_offsets(), view.centres[[0]])
    np.testing.assert_allclose(view.crosses.get_offsets(), view.centres[[1]])


def test_the_layout_is_deterministic_for_a_seed_and_fills_the_square():
    model = Ecosystem(population={"n_agents": 60}, seed=2)
    src, dst = model.network.src, model.network.dst
    first = stable_layout(60, src, dst, seed=5)
    assert first.shape == (60, 2)
    np.testing.assert_array_equal(first, stable_layout(60, src, dst, seed=5))
    assert not np.allclose(first, stable_layout(60, src, dst, seed=6))
    assert np.abs(first).max() == pytest.approx(1.0)
    labs = np.repeat(np.arange(3), 20)
    grouped = stable_layout(60, src, dst, seed=5, groups=labs)
    np.testing.assert_array_equal(grouped, stable_layout(60, src, dst, seed=5, groups=labs))
    # Each lab sits around its own centre: members are nearer their lab's mean than others'.
    centres = np.array([grouped[labs == lab].mean(axis=0) for lab in range(3)])
    nearest = np.linalg.norm(grouped[:, None] - centres[None], axis=-1).argmin(axis=1)
    assert (nearest == labs).mean() > 0.9


@pytest.fixture(scope="module")
def small_run():
    model = Ecosystem(population={"n_agents": 30}, schedule={"interval": 4}, snapshots_every=3,
                      seed=1)  # fmt: skip
    model.run(20)
    return (*model.snapshots(), model.time_series())


def test_frames_move_colours_never_the_layout_or_the_artists(small_run):
    drawn = SpreadFigure(*small_run)
    artists = [*drawn.view.moving, drawn.timeline.cursor]
    made = len(drawn.fig.axes[0].collections)
    offsets = []
    for step in drawn.steps:
        drawn.show(step)
        drawn.frame()
        offsets.append(drawn.view.nodes.get_offsets().copy())
    assert [*drawn.view.moving, drawn.timeline.cursor] == artists
    assert len(drawn.fig.axes[0].collections) == made
    for later in offsets[1:]:
        np.testing.assert_array_equal(later, offsets[0])
    assert drawn.timeline.cursor.get_xdata()[0] == 20


def test_the_animation_has_one_frame_per_snapshot(small_run, tmp_path):
    models = small_run[0]
    steps = sorted(models["step"].unique())
    assert steps == [0, 3, 6, 9, 12, 15, 18, 20]
    assert render(*small_run, tmp_path / "a.gif") == len(steps)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == len(steps)
    assert render(*small_run, tmp_path / "b.gif", stride=3) == 4  # 0, 9, 18 and the last
    with Image.open(tmp_path / "b.gif") as gif:
        assert gif.n_frames == 4


def test_the_timeline_counts_rounds_prevented_shutdowns_and_detections(small_run):
    series = small_run[2]
    counts = timeline_counts(series)
    assert counts["round"].tolist() == [s > 0 and s % 4 == 0 for s in range(21)]
    prevented = series[["prevented_inflate", "prevented_tamper", "prevented_refuse"]].sum(axis=1)
    assert counts["prevented"].tolist() == prevented.tolist()
    assert counts["detections"].tolist() == series["detections"].tolist()


SMALL = ["population.n_agents=30", "steps=12", "schedule.interval=4", "progress=false"]


def test_animate_writes_a_gif_of_a_run_folder(tmp_path, capsys):
    sim.run([*SMALL, "graph=labs", "graph.n_labs=3", "figures=true"], output_dir=tmp_path)
    assert (tmp_path / "network.png").stat().st_size > 0  # drawn lab by lab
    assert main([str(tmp_path), "--color", "propensity"]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(tmp_path / "spread.gif") as gif:
        assert gif.n_frames == 13  # every step of a 30-model run, 0 to 12
    assert verify_run(tmp_path)  # the folder's marked files are untouched


def test_a_folder_without_snapshots_is_one_line_naming_the_option(tmp_path, capsys):
    sim.run([*SMALL, "record.snapshots_every=0", "figures=true"], output_dir=tmp_path)
    assert (tmp_path / "network.png").stat().st_size > 0  # the last frame, from the model
    assert main([str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "record.snapshots_every" in lines[0]
    assert not (tmp_path / "spread.gif").exists()


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg (apt-get install ffmpeg)")
def test_an_mp4_has_one_frame_per_snapshot(tmp_path):
    sim.run([*SMALL, "record.snapshots_every=3"], output_dir=tmp_path)
    assert main([str(tmp_path), "--out", str(tmp_path / "spread.mp4")]) == 0
    frames = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "csv=p=0", str(tmp_path / "spread.mp4")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert int(frames) == 5  # steps 0, 3, 6, 9 and 12


def test_an_mp4_without_ffmpeg_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg there
    assert main([str(tmp_path), "--out", str(tmp_path / "x.mp4")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "ffmpeg" in lines[0] and "x.mp4" in lines[0]


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--out", "x.avi"], "--out: must end in .gif or .mp4"), (["--fps", "0"], "--fps"),
     (["--stride", "0"], "--stride: must be >= 1")],
)  # fmt: skip
def test_bad_options_are_one_line(tmp_path, capsys, option, message):
    assert main([str(tmp_path), *option]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_drawings_group_labs_and_large_fleets_by_the_runs_communities():
    small, large = np.arange(10) % 3, np.arange(501) % 7
    assert drawing_groups(small, labs=False) is None  # one spring layout
    assert drawing_groups(small, labs=True) is small
    assert drawing_groups(large, labs=False) is large


def test_a_missing_run_folder_or_empty_snapshots_say_so(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().endswith("nowhere: no such run folder")
    empty = Ecosystem(population={"n_agents": 20}, seed=0).snapshots()  # recording off
    with pytest.raises(ValueError, match="no snapshot to draw"):
        SpreadFigure(*empty, pd.DataFrame())
