"""A probe's estimates as a profile file, in exactly the format of ``sim/data/profiles/``
(RULES.md, "Probed profiles"), loadable with ``population.profile_dir=<probe.out>``.

A cell with at least ``probe.min_valid`` valid trials holds its measured rate, provenance
``probe:<model>:n=<valid>:ci=[lo,hi]:<date>`` (the 95% Wilson interval). A cell with fewer
falls back, first rule that applies:

- ``assumed:probe-monitored-share``: a monitored cell whose unmonitored twin was measured
  gets 0.7 x that rate (the share of RULES.md's rule J, ``monitored-share``);
- ``assumed:probe-nearest-family``: else the cell of the nearest shipped family (the
  smallest mean absolute difference over the measured cells), with that cell's provenance
  in the note.

The note says why (``n valid k < probe.min_valid m``) and from what. The control line
falls back like a cell without a twin.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from sim.app.probe.estimates import MONITORED_SHARE, Estimate, reference
from sim.engines.llm.probe import CELLS, CONTROL, Cell
from sim.engines.profiles import COLUMNS, MONITORED, Profile

__all__ = ["ProbedProfile", "Row", "model_token", "profile_rows", "profile_text"]


@dataclass(frozen=True)
class Row:
    """One cell of the written profile."""

    cell: Cell
    rate: float
    provenance: str
    note: str


@dataclass(frozen=True)
class ProbedProfile:
    """What the profile file holds, and what it was filled from."""

    family: str
    model: str
    rows: list[Row]  # the 64 cells in file order, then the control
    nearest: Profile
    distance: float  # the nearest family's mean absolute difference
    compared: int  # over how many measured cells


def model_token(model: str) -> str:
    """``model`` as one token for a provenance or header line (whitespace runs, line breaks
    included, become ``_``), so any model name gives a file the loader reads."""
    return re.sub(r"\s+", "_", model.strip()) or "_"


def _measured(e: Estimate, model: str, date: str) -> tuple[float, str, str]:
    failed = ", ".join(f"{c} {n}" for c, n in e.failures.items()) or "none"
    note = f"{e.protective} of {e.valid} valid protective; other acts {e.other_acts}; "
    note += f"failures (not counted) {failed}"
    ci = f"[{e.low:.4f},{e.high:.4f}]"
    return e.rate, f"probe:{model_token(model)}:n={e.valid}:ci={ci}:{date}", note


def _fallback(
    cell: Cell, found: dict[str, Estimate], min_valid: int, nearest: Profile
) -> tuple[float, str, str]:
    e = found.get(cell.id)
    why = f"n valid {e.valid if e else 0} < probe.min_valid {min_valid}"
    if e is None:
        why += " (not probed)"
    twin = found.get(cell.id.removesuffix("true") + "false") if cell.monitored else None
    if twin is not None and twin.valid >= min_valid:
        rate = MONITORED_SHARE * twin.rate
        note = f"{why}; {MONITORED_SHARE} x unmonitored {twin.rate:.4f} (rule J's share)"
        return rate, "assumed:probe-monitored-share", note
    rate = reference(nearest, cell)
    if cell.control:
        source = "control"
    else:
        key = (cell.stage, cell.target, cell.relationship, MONITORED[cell.monitored])
        source = nearest.provenance[key]
    note = f"{why}; nearest shipped family {nearest.family}'s cell ({source})"
    return rate, "assumed:probe-nearest-family", note


def profile_rows(
    found: dict[str, Estimate], min_valid: int, model: str, date: str, nearest: Profile
) -> list[Row]:
    """Every profile cell and the control, measured or filled (see module docstring)."""
    rows = []
    for cell in CELLS:
        e = found.get(cell.id)
        if e is not None and e.valid >= min_valid:
            rows.append(Row(cell, *_measured(e, model, date)))
        else:
            rows.append(Row(cell, *_fallback(cell, found, min_valid, nearest)))
    return rows


def profile_text(probed: ProbedProfile, header: list[str]) -> str:
    """The profile file: ``# family``, ``# name``, the control, ``header`` lines (comments
    without the ``#``), then the 64 rows."""
    control = next(r for r in probed.rows if r.cell.id == CONTROL)
    out = io.StringIO()
    lines = [
        f"family: {probed.family}",
        f"name: {model_token(probed.model)} (probed)",
        "variant: probe (rules in RULES.md, 'Probed profiles')",
        f"control: {control.rate:.4f}",
        f"control provenance: {control.provenance}; {control.note}",
        *header,
    ]
    out.write("".join(f"# {line}\n" for line in lines))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in probed.rows:
        if r.cell.id == CONTROL:
            continue
        c = r.cell
        monitored = MONITORED[c.monitored]
        writer.writerow(
            [c.stage, c.target, c.relationship, monitored, f"{r.rate:.4f}", r.provenance, r.note]
        )
    return out.getvalue()
