"""``hydra/launcher=ray_cluster`` against a running Ray cluster: a head started here, on
127.0.0.1, in its own folder; a sweep run from another folder with a relative sweep folder.

The head: :func:`tests.ray_head.ray_head`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from sim.app.collect import main as collect
from sim.io.outputs import verify_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray not installed (pip install -e '.[ray]')",
)

TINY = ["population.n_agents=30", "steps=5", "figures=false", "progress=false"]


def test_sweep_on_a_running_cluster(ray_head, tmp_path, capsys):
    """Address ``auto`` (from ``RAY_ADDRESS``), a relative sweep folder, another cwd than the
    head's: the runs land in the sweep command's folder, and the sweep counts them."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "sim", "-m", "hydra/launcher=ray_cluster", "seed=0,1,2,3", *TINY,
         "hydra.sweep.dir=sweep"],
        cwd=cwd,
        env={**ray_head, "HYDRA_FULL_ERROR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sweep = cwd / "sweep"
    runs = [folder for folder in sweep.iterdir() if folder.is_dir()]
    assert len(runs) == 4
    assert all(verify_run(folder) for folder in runs)
    assert "[sweep] 4/4 done: 4 computed, 0 skipped (already done), 0 failed, 0 left" in (
        done.stdout
    )
    assert collect([str(sweep), "--strict"]) == 0
    assert "4 runs (4 ok, 0 failed, 0 incomplete)" in capsys.readouterr().out
