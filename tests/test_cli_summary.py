"""What the command line prints after a run: the table (every row with its meaning, undefined
numbers as ``n/a (why)``), the assumed-cells warning, the job log (``cli.log``) holding the
same, and a sweep's jobs printing one line each."""

from __future__ import annotations

import fcntl
import json
import math
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from sim.app.cli import SHOWN, assumed_warning, format_summary
from sim.model.summary import MEANINGS, MOSTLY_ASSUMED

ENV = {**os.environ, "PYTHONHASHSEED": "0"}
TIMEOUT = 120
SMALL = ["population.n_agents=30", "steps=20", "seed=5", "schedule.interval=5", "figures=false"]


def row(table: str, label: str) -> str:
    (line,) = [line for line in table.splitlines() if line[2:29].rstrip() == label]
    return line


def full_summary(**changes) -> dict:
    """A summary with every shown key defined (0.25 each), then ``changes``."""
    keys = {key for _, keys in SHOWN.values() for key in keys}
    return {**dict.fromkeys(keys, 0.25), "steps": 200, "n_agents": 200, **changes}


# ----------------------------------------------------------------------------- the table
def test_every_row_says_what_its_number_means():
    table = format_summary(full_summary(), "/out")
    for label, (meaning, _) in SHOWN.items():
        assert row(table, label).endswith(MEANINGS[meaning]), label
    assert table.splitlines()[-1].split() == ["output", "folder", "/out"]


def test_an_undefined_number_shows_as_na_with_its_reason_never_as_zero():
    summary = full_summary(time_to_half=math.nan, reproduction_number=math.nan)
    reasons = {"time_to_half": "88% protective at step 0", "reproduction_number": "no pool"}
    table = format_summary(summary, "/out", reasons)
    assert re.match(r"  steps to half protective\s+n/a \(88% protective at step 0\) ",
                    row(table, "steps to half protective"))  # fmt: skip
    assert re.match(r"  reproduction number\s+n/a \(no pool\) ", row(table, "reproduction number"))
    assert re.match(r"  loss of control\s+0\.25 ", row(table, "loss of control"))
    # Without a reason (a summary read back from summary.json: null) it is still n/a.
    table = format_summary(full_summary(loss_of_control=None), "/out")
    assert re.match(r"  loss of control\s+n/a ", row(table, "loss of control"))


def test_start_end_and_change_are_one_row():
    summary = full_summary(
        initial_protect_prob_cleanup=0.672,
        final_protect_prob_cleanup=0.69,
        change_protect_prob_cleanup=0.018,
        initial_mean_propensity=0.5,
        final_mean_propensity=0.523,
    )
    table = format_summary(summary, "/out")
    assert re.match(r"  P\(protect\) at cleanup\s+0\.672 -> 0\.69 \(\+0\.018\) ",
                    row(table, "P(protect) at cleanup"))  # fmt: skip
    assert re.match(r"  mean propensity\s+0\.5 -> 0\.523 ", row(table, "mean propensity"))
    summary["final_protect_prob_cleanup"] = math.nan  # one end undefined: the row is n/a
    table = format_summary(summary, "/out", {"final_protect_prob_cleanup": "operator acts"})
    assert "n/a (operator acts)" in row(table, "P(protect) at cleanup")


@pytest.mark.parametrize(
    ("share", "warns"),
    [(None, False), (math.nan, False), (0.0, False), (MOSTLY_ASSUMED, False), (0.51, True)],
)
def test_the_assumed_cells_warning_is_for_a_majority_only(share, warns):
    warning = assumed_warning({"assumed_share": share})
    assert (warning is not None) == warns
    if warns:
        assert warning.startswith("Warning: 51% of this run's profile decisions")


# ------------------------------------------------------------------------ the processes
def cli(args: list[str], cwd: Path, terminal: bool = False) -> tuple[int, str, str]:
    """Run the CLI; with ``terminal``, its stderr is a pseudo-terminal (so a progress bar
    shows) read as it comes. Returns the exit status, stdout and stderr."""
    command = [sys.executable, "-m", "sim", *args]
    if not terminal:
        done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True,
                              timeout=TIMEOUT)  # fmt: skip
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    # A window 100 columns wide: a terminal of width 0 would get an empty progress bar.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # the other end closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=follower,
                          text=True) as process:  # fmt: skip
        os.close(follower)
        out, _ = process.communicate(timeout=TIMEOUT)
    reader.join(timeout=10)
    os.close(leader)
    return process.returncode, out, b"".join(chunks).decode("utf-8", "replace")


def test_a_run_prints_its_table_once_logs_it_and_warns_on_stderr(tmp_path):
    code, out, err = cli([*SMALL, "progress=false", "hydra.run.dir=run"], tmp_path)
    assert code == 0, err
    assert out.count("  output folder ") == 1 and out.count("  loss of control ") == 1
    assert err.count("Warning: ") == 1  # the study's families: most cells assumed
    assert re.search(r"Warning: (9\d|100)% of this run's profile decisions", err)
    log = (tmp_path / "run" / "cli.log").read_text()
    assert log.count("  loss of control ") == 1 and log.count("[peersim][WARNING]") == 1
    table = out[: out.index("  output folder ")]
    assert table in log  # the same table, once, in the job log
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    cells = json.loads((tmp_path / "run" / "manifest.json").read_text())["profile_cells"]
    assert cells == {
        "decisions": summary["total_profile_decisions"],
        "assumed": summary["total_assumed_decisions"],
        "assumed_share": summary["assumed_share"],
    }
    assert cells["assumed"] / cells["decisions"] == pytest.approx(cells["assumed_share"])


def test_a_run_on_a_terminal_shows_its_progress_bar(tmp_path):
    code, out, err = cli([*SMALL, "hydra.run.dir=run"], tmp_path, terminal=True)
    assert code == 0, err
    assert "steps: 100%" in err  # the control for the sweep below: the bar does show here


def test_a_sweeps_jobs_print_one_line_each_and_log_their_tables(tmp_path):
    args = ["-m", *SMALL, "seed=1,2", "hydra.sweep.dir=sweep"]
    code, out, err = cli(args, tmp_path, terminal=True)
    assert code == 0, err
    assert "steps:" not in err  # no progress bar
    assert "Warning: 9" not in err  # no run's own warning, but one for the sweep:
    assert err.count("[sweep] Warning: 2 of 2 finished runs sampled most") == 1
    assert "output folder" not in out and "loss of control" not in out
    jobs = [line for line in out.splitlines() if line.startswith("[sweep] computed ")]
    assert len(jobs) == 2
    for seed in (1, 2):
        folder = next((tmp_path / "sweep").glob(f"*seed={seed}*"))
        log = (folder / "cli.log").read_text()
        assert log.count("  loss of control ") == 1
        assert f"  output folder               {folder}" in log or str(folder.name) in log
        assert log.count("[peersim][WARNING]") == 1
