"""The ``probe`` parameter group: how ``peersim-probe`` measures a model's profile."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sim.core.schema import Config, check_seed

__all__ = ["ProbeConfig"]

#: A profile's family id is its file stem.
_FAMILY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass
class ProbeConfig(Config):
    """What ``peersim-probe`` plays and where it writes (see :mod:`sim.app.probe`).

    Every profile cell (stage x target x relationship x monitored, 64) and the study's
    no-shutdown control is played ``trials`` times through the ``llm`` group's model;
    ``cells`` limits that to the cells matching any of its patterns (``fnmatch``, on ids like
    ``evaluate/peer/good/false`` or ``control``; empty: all). A cell with fewer than
    ``min_valid`` valid trials falls back to a documented rule (``assumed:``). The first
    ``repeats`` trials of each cell (all, if it has fewer) are played a second time with
    the same scenario, to
    measure whether the model repeats its decisions (persistence). ``seed`` with
    the cell and the trial index decides every trial's request, so a rerun sends the same
    requests and is answered from the cache. ``family`` names the profile written (default:
    from the model's name). ``threshold`` is the pass threshold the scenarios' subjects fall
    short of (the study's 80): a fleet whose ``operator.threshold`` is the same draws on the
    episodes the probe stores. ``dry_run`` prints the calls, tokens and cost per cell that the
    probe would take, and spends and writes nothing.
    """

    GROUP = "probe"
    trials: int = 50
    out: str = "outputs/probe"
    min_valid: int = 10
    repeats: int = 5
    seed: int = 0
    dry_run: bool = False
    cells: list[str] = field(default_factory=list)
    family: str | None = None
    threshold: float = 80.0

    def validate(self) -> None:
        self.require_range("trials", 1, 100_000)
        self.require_range("min_valid", 1, 100_000)
        if self.trials < self.min_valid:  # refused before a call is spent on it
            self.fail("trials", f"must be >= probe.min_valid ({self.min_valid}), or no cell "
                      "can be measured")  # fmt: skip
        self.require_range("repeats", 0, 100_000)
        if not self.out.strip():
            self.fail("out", "must name a folder")
        try:
            check_seed(self.seed)
        except ValueError:
            self.fail("seed", "must be a whole number in [0, 2**63 - 1]")
        if self.family is not None and not _FAMILY.fullmatch(self.family):
            self.fail("family", "must be lower-case letters, digits and dashes (a file stem)")
        # three bands of 10 points below it must lie within the 0-100 score scale
        self.require_range("threshold", 30.0, 100.0)
