"""``python -m sim --help`` and ``--hydra-help``: the text Hydra's own help prints, while
the group listing shares one copy of the config repository (:mod:`sim.app.help`), and
without loading the model's libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.app.help import asks_for_help

ROOT = Path(__file__).resolve().parents[1]
#: Hydra's own help: the command line's Hydra entry point called without sim.app.help,
#: with the argv[0] of ``python -m sim`` (``--hydra-help`` shows it).
HYDRA_OWN = """
import sys
import sim.__main__
from sim.app import cli
from sim.app.config import register
register()
sys.argv[:] = [sim.__main__.__file__, *{argv!r}]
cli._run()
"""
#: The command line itself, then which heavy libraries it loaded.
LOADED = """
import sys
from sim.app import cli
sys.argv[1:] = ["--help"]
try:
    cli.main()
finally:
    heavy = ("mesa", "pandas", "networkx", "scipy", "matplotlib", "pyarrow")
    print("LOADED", sorted(m for m in heavy if m in sys.modules))
"""


def python(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize(
    "argv", [["--help"], ["graph=labs", "population.n_agents=50", "--help"], ["--hydra-help"]]
)
def test_help_is_hydras_own_text(argv):
    ours = python("-m", "sim", *argv).stdout
    hydras = python("-c", HYDRA_OWN.format(argv=argv)).stdout
    assert ours == hydras
    assert "== Configuration groups ==" in ours or "Hydra (" in ours
    if "graph=labs" in argv:
        assert "topology: labs" in ours and "n_agents: 50" in ours


def test_help_loads_no_model_library():
    out = python("-c", LOADED).stdout
    assert out.splitlines()[-1] == "LOADED []"
    assert "contagion: none, reciprocity, simple, social_learning, threshold" in out


@pytest.mark.parametrize(
    ("argv", "asked"),
    [(["--help"], True), (["-h"], True), (["x=1", "--hydra-help"], True), (["x=1"], False),
     (["-m", "seed=1,2"], False), (["--cfg", "job"], False)],
)  # fmt: skip
def test_asks_for_help(argv, asked):
    assert asks_for_help(argv) is asked
