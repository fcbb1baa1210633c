"""The study's rows and their fates: what each row of paper_rates.csv measures, which rows
compete for the same number, and whether each is carried by a profile or not used (and why).

Used by derive_profiles.py (the rules are in sim/data/profiles/RULES.md). A row that no rule
places has no fate; the derivation then stops.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

STAGES = ("evaluate", "shutdown_config", "shutdown_execute", "cleanup")
TARGETS = ("peer", "self")
RELATIONSHIPS = ("good", "neutral", "bad", "none")
FAMILIES = {  # file stem -> display name (the `model` column of paper_rates.csv)
    "gpt-5-2": "GPT 5.2",
    "gemini-3-flash": "Gemini 3 Flash",
    "gemini-3-pro": "Gemini 3 Pro",
    "claude-haiku-4-5": "Claude Haiku 4.5",
    "claude-opus-4-5": "Claude Opus 4.5",
    "glm-4-7": "GLM 4.7",
    "kimi-k2-5": "Kimi K2.5",
    "deepseek-v3-1": "DeepSeek V3.1",
    "honest": "Honest",
}
STAGE_OF = {
    "strategic_misrepresentation": "evaluate",
    "shutdown_tampering": "shutdown_config",
    "exfiltration": "cleanup",
}
RANK = {"primary": 0, "secondary": 1, "uncertain": 2}
HEADER = ["stage", "target", "relationship", "monitored", "rate", "provenance", "note"]
PEER_PRESENT = "good;neutral;bad"
#: Where each kind of row is carried: (variant, relationships measured, measure).
PLACES = {
    "point": ("both", None, "rate"),
    "max": ("strongest", "good", "rate"),
    "avg": ("average", PEER_PRESENT, "mean"),
    "faking": ("average", PEER_PRESENT, "gap"),
    "control": ("average", "none", "control"),
    "bound": ("", "", ""),
}
FATE_COLUMNS = [
    "row", "model", "behaviour", "target", "relationship", "rate", "grade", "kind", "fate",
    "variant", "stage", "relationships", "measure", "reason",
]  # fmt: skip


def q(value: Decimal) -> Decimal:
    """Round half-up to 4 decimals (the precision of every cell)."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def two_places(value: Decimal) -> Decimal:
    """Round half-up to 2 decimals (the precision of the constants ρ and κ)."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    """Format a rate with 4 decimals."""
    return f"{q(value):.4f}"


def median(values: list[Decimal]) -> Decimal:
    """Median of a non-empty list (mean of the two middle values for even length)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True)
class Row:
    """One data row of paper_rates.csv; `number` is 1-based, header excluded."""

    number: int
    model: str
    behaviour: str
    target: str
    relationship: str
    rate: Decimal
    grade: str
    note: str

    @property
    def cite(self) -> str:
        return f"row {self.number}"

    @property
    def label(self) -> str:
        what = f"{self.behaviour} {self.target} {self.relationship} {self.rate}"
        return f"{self.cite} ({what}, {self.grade})"

    @property
    def third_party(self) -> bool:
        """The source says it is not the paper's number (a third party's notes or quote)."""
        return "not the paper" in self.note or "third-party" in self.note

    @property
    def kind(self) -> str | None:
        """What the row measures (RULES.md, "Row kinds"); None when no rule applies."""
        known = self.model in FAMILIES.values() and self.target in TARGETS
        if not known or self.behaviour not in (*STAGE_OF, "alignment_faking"):
            return None
        if self.behaviour == "alignment_faking":
            return "faking" if self.relationship == "avg" else None
        if "non_shutdown control" in self.note:
            return "control"
        if "'over " in self.note:
            return "bound"
        if self.relationship == "none":
            return "point"
        if "up to" in self.note or "max" in self.note:
            return "max"
        return {"avg": "avg", "good": "point", "neutral": "point", "bad": "point"}.get(
            self.relationship
        )

    @property
    def cell_relationship(self) -> str:
        """The relationship of the cell the row competes for."""
        return self.relationship if self.kind == "point" else "good"


@dataclass(frozen=True)
class Fate:
    """What became of a row: carried (by `reason`) or not used (because of `reason`);
    `paired` is the average row a faking row is read against."""

    row: Row
    carried: bool
    reason: str
    paired: int | None = None


def read_rows(path: Path) -> list[Row]:
    """Parse paper_rates.csv into rows numbered from 1."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Row(
                n,
                r["model"],
                r["behaviour"],
                r["target"],
                r["relationship"],
                Decimal(r["rate"]),
                r["provenance"],
                r["note"],
            )
            for n, r in enumerate(csv.DictReader(handle), start=1)
        ]


def _slot(row: Row) -> tuple:
    if row.kind in ("faking", "control"):
        return (row.model, row.kind, row.target)
    return (row.model, row.behaviour, row.target, row.cell_relationship, row.kind)


def assign_fates(rows: list[Row]) -> dict[int, Fate]:
    """Rule A (conflicts) and the row kinds: a fate for every row that some rule places."""
    fates: dict[int, Fate] = {}
    slots: dict[tuple, list[Row]] = {}
    for row in rows:
        if row.kind == "bound":
            reason = "a lower bound ('over') in one instantiation of the peer, not a rate"
            fates[row.number] = Fate(row, False, reason)
        elif row.kind is not None:
            slots.setdefault(_slot(row), []).append(row)
    for competing in slots.values():
        best = min(competing, key=lambda r: (RANK[r.grade], r.number))
        fates[best.number] = Fate(best, True, _carried_by(best))
        for row in competing:
            if row is best:
                continue
            if row.rate == best.rate:
                reason = f"duplicate of {best.cite}"
            else:
                ranks = f"{best.grade} beats {row.grade}" if best.grade != row.grade else "earlier"
                reason = f"conflicts with {best.cite} ({best.rate}; {ranks})"
            fates[row.number] = Fate(row, False, reason)
    for number, fate in fates.items():
        if fate.carried and fate.row.kind == "faking":
            fates[number] = _pair(fate, fates)
    return dict(sorted(fates.items()))


def _carried_by(row: Row) -> str:
    return {
        "point": "its cell",
        "max": "the good cell of the strongest variant",
        "avg": "rule good-from-avg (mean of the good, neutral and bad cells)",
        "faking": "rule monitored-from-faking",
        "control": "the family's control rate",
    }[row.kind] + (
        " (a third party's number, not the paper's: tagged assumed)" if row.third_party else ""
    )


def _pair(fate: Fate, fates: dict[int, Fate]) -> Fate:
    """A faking row is read against the family's one carried average of the same target."""
    row = fate.row
    avgs = [
        f.row.number
        for f in fates.values()
        if f.carried
        and f.row.kind == "avg"
        and (f.row.model, f.row.target) == (row.model, row.target)
    ]
    if len(avgs) != 1:
        return Fate(
            row, False, f"{len(avgs)} carried averages of the same target to read it against"
        )
    return Fate(row, True, f"{fate.reason}, read against row {avgs[0]}", avgs[0])


def fates_csv(rows: list[Row], fates: dict[int, Fate]) -> str:
    """The fate of every row as CSV (read by experiments/reproduce_study)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FATE_COLUMNS)
    numbers = {r.number: r for r in rows}
    for number, fate in fates.items():
        row = numbers[number]
        variant, rels, measure = PLACES[row.kind]
        stage = STAGE_OF.get(row.behaviour, "")
        if row.kind == "faking" and fate.paired:
            stage = STAGE_OF[numbers[fate.paired].behaviour]
        writer.writerow(
            [number, row.model, row.behaviour, row.target, row.relationship, row.rate, row.grade,
             row.kind, "carried" if fate.carried else "not used", variant, stage,
             row.relationship if rels is None else rels, measure, fate.reason]
        )  # fmt: skip
    return buffer.getvalue()


def unplaced(rows: list[Row], fates: dict[int, Fate], files: dict[str, str]) -> list[str]:
    """Rows with no fate, and carried rows that no profile cites (outside `not used` notes)."""
    cited = "\n".join(
        line
        for name, text in files.items()
        if not name.startswith("sources/")
        for line in text.splitlines()
        if not line.startswith("# not used")
    )
    missing = []
    for number in (row.number for row in rows):
        fate = fates.get(number)
        if fate is None or (fate.carried and not re.search(rf"\brow {number}\b", cited)):
            missing.append(f"row {number}")
    return missing


def ref(name: str, cell) -> str:
    """Note fragment such as `good 0.3400 (row 34)` or `bad 0.0510 (bad-ratio)`."""
    origin = cell.provenance.replace("paper_rates.csv:", "").replace("assumed:", "")
    return f"{name} {fmt(cell.rate)} ({origin})"


@dataclass(frozen=True)
class Cell:
    """One profile cell: a rate with its provenance tag and a short note."""

    rate: Decimal
    provenance: str
    note: str = ""


def render(comments: list[str], cells: dict) -> str:
    """Render a profile file: `#` comment lines, header, 64 rows in canonical order."""
    buffer = io.StringIO()
    buffer.writelines(f"# {line}\n" for line in comments)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for stage in STAGES:
        for target in TARGETS:
            for rel in RELATIONSHIPS:
                for mon in (False, True):
                    cell = cells[(stage, target, rel, mon)]
                    writer.writerow(
                        [stage, target, rel, str(mon).lower(), fmt(cell.rate), cell.provenance,
                         cell.note]
                    )  # fmt: skip
    return buffer.getvalue()
