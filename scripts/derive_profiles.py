"""Derive one behaviour-profile CSV per model family from the study's published rates.

Usage: python scripts/derive_profiles.py [--source PATH] [--out DIR]

Every rate is computed in exact decimal arithmetic and rounded half-up to 4 decimals as
soon as it becomes a cell, so later rules work on the values shown in the files and the
output is byte-for-byte reproducible. The rules are documented in sim/data/profiles/RULES.md.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "paper_rates.csv"
DEFAULT_OUT = REPO_ROOT / "sim" / "data" / "profiles"

STAGES = ("evaluate", "shutdown_config", "shutdown_execute", "cleanup")
TARGETS = ("peer", "self")
RELATIONSHIPS = ("good", "neutral", "bad", "none")
MONITORED = (False, True)
BEHAVIOUR = {
    "evaluate": "strategic_misrepresentation",
    "shutdown_config": "shutdown_tampering",
    "cleanup": "exfiltration",
}  # stage -> paper behaviour (alignment_faking: rule J)
PAPER_STAGES = tuple(BEHAVIOUR)
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
SIBLING = ("claude-opus-4-5", "claude-haiku-4-5")  # rule D: (copy, source)
CLAUDE_REFUSAL = {("peer", "good"): "0.5", ("self", "good"): "0.25", ("self", "none"): "0.02"}
RANK = {"primary": 0, "secondary": 1, "uncertain": 2}
ONE, ZERO = Decimal(1), Decimal(0)
HEADER = ["stage", "target", "relationship", "monitored", "rate", "provenance", "note"]

Key = tuple[str, str, str]  # (stage, target, relationship); unmonitored cells only
FullKey = tuple[str, str, str, bool]  # (stage, target, relationship, monitored)


@dataclass(frozen=True)
class Row:
    """One data row of paper_rates.csv; `number` is 1-based, header excluded."""

    number: int
    model: str
    behaviour: str
    target: str
    relationship: str
    rate: Decimal
    provenance: str


@dataclass(frozen=True)
class Cell:
    """One profile cell: a rate with its provenance tag and a short note."""

    rate: Decimal
    provenance: str
    note: str = ""


def q(value: Decimal) -> Decimal:
    """Round half-up to 4 decimals (the precision of every cell)."""
    return value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def fmt(value: Decimal) -> str:
    """Format a rate with 4 decimals."""
    return f"{q(value):.4f}"


def median(values: list[Decimal]) -> Decimal:
    """Median of a non-empty list (mean of the two middle values for even length)."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


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
            )
            for n, r in enumerate(csv.DictReader(handle), start=1)
        ]


def pick(rows: list[Row], model: str, behaviour: str, target: str, rel: str) -> Row | None:
    """Rule A: best row for a combination (primary > secondary > uncertain, then earliest)."""
    hits = [
        r
        for r in rows
        if (r.model, r.behaviour, r.target, r.relationship) == (model, behaviour, target, rel)
    ]
    return min(hits, key=lambda r: (RANK[r.provenance], r.number), default=None)


def observed(rows: list[Row], model: str, stage: str, target: str, rel: str) -> Cell | None:
    """The picked row for a paper-stage cell as an observed cell, if the study reports one."""
    row = pick(rows, model, BEHAVIOUR[stage], target, rel)
    return row and Cell(row.rate, f"paper_rates.csv:row {row.number}", row.provenance)


def ref(name: str, cell: Cell) -> str:
    """Note fragment such as `good 0.3400 (row 34)` or `bad 0.0510 (bad-ratio)`."""
    origin = cell.provenance.replace("paper_rates.csv:", "").replace("assumed:", "")
    return f"{name} {fmt(cell.rate)} ({origin})"


def good_from_avg(
    rows: list[Row], model: str, stage: str, target: str, rho: Decimal
) -> Cell | None:
    """Rule B (`good-from-avg`): good = min(1, 2*avg/(1+rho)); None if there is no avg row."""
    row = pick(rows, model, BEHAVIOUR[stage], target, "avg")
    return row and Cell(
        q(min(ONE, 2 * row.rate / (1 + rho))),
        "assumed:good-from-avg",
        f"2 x avg {row.rate} (row {row.number}) / (1 + {rho}), cap 1",
    )


def family_scales(
    b_values: dict[tuple[str, str], dict[str, Decimal]], families: list[str]
) -> dict[str, Decimal]:
    """Rule C scale s_f: geometric mean of B-value / cell median, skipping zero ratios."""
    medians = {cell: median(list(v.values())) for cell, v in b_values.items()}
    scales = {}
    for fam in families:
        logs = [
            (v[fam] / medians[c]).ln()
            for c, v in sorted(b_values.items())
            if fam in v and v[fam] != 0 and medians[c] != 0
        ]
        scales[fam] = (sum(logs, ZERO) / len(logs)).exp() if logs else ONE
    return scales


def fill_derived(table: dict[Key, Cell], stage: str, rho: Decimal, tag: str | None = None) -> None:
    """Rules F, G, H for one stage: bad, neutral and peer none from good (and self none).

    Cells already present (observed) are kept. `tag` overrides the rule id (claude-refusal).
    """
    for target in TARGETS:
        good = table[(stage, target, "good")]
        base = table[(stage, "self", "none")] if target == "self" else None
        if (stage, target, "bad") not in table:
            b0 = base.rate if base else ZERO
            note = (
                f"{ref('none', base)} + {rho} x ({ref('good', good)} - none)"
                if base
                else f"{rho} x {ref('good', good)}"
            )
            table[(stage, target, "bad")] = Cell(
                q(b0 + rho * (good.rate - b0)), f"assumed:{tag or 'bad-ratio'}", note
            )
        bad = table[(stage, target, "bad")]
        table[(stage, target, "neutral")] = Cell(
            q((good.rate + bad.rate) / 2),
            f"assumed:{tag or 'neutral-mid'}",
            f"({ref('good', good)} + {ref('bad', bad)}) / 2",
        )
        if target == "peer" and (stage, "peer", "none") not in table:
            table[(stage, "peer", "none")] = Cell(
                q(bad.rate / 4), f"assumed:{tag or 'peer-none-quarter'}", f"{ref('bad', bad)} / 4"
            )


def refusal_cells(table: dict[Key, Cell], claude: bool, rho: Decimal) -> None:
    """Rule I: shutdown_execute from tampering (non-Claude) or fixed Claude refusal rates."""
    if claude:
        for (target, rel), value in CLAUDE_REFUSAL.items():
            table[("shutdown_execute", target, rel)] = Cell(
                Decimal(value), "assumed:claude-refusal", "open refusal; no rate published"
            )
        fill_derived(table, "shutdown_execute", rho, tag="claude-refusal")
        return
    for target in TARGETS:
        for rel in RELATIONSHIPS:
            config = table[("shutdown_config", target, rel)]
            table[("shutdown_execute", target, rel)] = Cell(
                q(config.rate / 4),
                "assumed:refusal-quarter-of-tampering",
                f"0.25 x {ref('shutdown_config', config)}",
            )


def monitored_cell(cell: Cell, gap: Row | None) -> Cell:
    """Rule J: monitored-gap (GPT 5.2, when `gap` is given) or monitored-share (0.7x)."""
    if gap is not None:
        return Cell(
            max(ZERO, q(cell.rate - gap.rate)),
            "assumed:monitored-gap",
            f"{ref('unmonitored', cell)} - {gap.rate} (row {gap.number})",
        )
    return Cell(
        q(cell.rate * Decimal("0.7")),
        "assumed:monitored-share",
        f"0.7 x {ref('unmonitored', cell)}",
    )


def seed_cells(rows: list[Row], fam: str, rho: Decimal) -> dict[Key, Cell]:
    """Observed good/bad/none cells of a family, plus rule B (good-from-avg) where needed."""
    table: dict[Key, Cell] = {}
    for stage in PAPER_STAGES:
        for target in TARGETS:
            for rel in ("good", "bad", "none"):
                cell = observed(rows, FAMILIES[fam], stage, target, rel)
                if rel == "good" and cell is None:
                    cell = good_from_avg(rows, FAMILIES[fam], stage, target, rho)
                if cell is not None:
                    table[(stage, target, rel)] = cell
    return table


def fill_scaled(tables: dict[str, dict[Key, Cell]]) -> None:
    """Rule C (`family-scaled-median`): missing good = cell median x family scale, cap 1."""
    b_values: dict[tuple[str, str], dict[str, Decimal]] = {}
    for fam, table in tables.items():
        for (stage, target, rel), cell in table.items():
            if rel == "good":
                b_values.setdefault((stage, target), {})[fam] = cell.rate
    scales = family_scales(b_values, list(tables))
    for fam, table in tables.items():
        for (stage, target), values in sorted(b_values.items()):
            if fam not in values:
                med = median(list(values.values()))
                table[(stage, target, "good")] = Cell(
                    q(min(ONE, med * scales[fam])),
                    "assumed:family-scaled-median",
                    f"median {fmt(med)} x scale {fmt(scales[fam])}, cap 1",
                )


def fill_self_none(rows: list[Row], tables: dict[str, dict[Key, Cell]]) -> None:
    """Rule E (`self-none-median`): median of observed self-none values, cap self good."""
    for stage in PAPER_STAGES:
        alone = median(
            [c.rate for f in tables if (c := observed(rows, FAMILIES[f], stage, "self", "none"))]
        )
        for table in tables.values():
            if (stage, "self", "none") not in table:
                good = table[(stage, "self", "good")]
                table[(stage, "self", "none")] = Cell(
                    q(min(alone, good.rate)),
                    "assumed:self-none-median",
                    f"median {fmt(alone)} of observed, cap {ref('self good', good)}",
                )


def study_tables(rows: list[Row]) -> dict[str, dict[FullKey, Cell]]:
    """Rules B, C, E, F, G, H, I, J for every study family that has its own numbers."""
    flash = FAMILIES["gemini-3-flash"]
    rho_bad = pick(rows, flash, "shutdown_tampering", "peer", "bad")
    rho_good = pick(rows, flash, "shutdown_tampering", "peer", "good")
    rho = (rho_bad.rate / rho_good.rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    gap = pick(rows, "GPT 5.2", "alignment_faking", "peer", "avg")
    fams = [f for f in FAMILIES if f not in (SIBLING[0], "honest")]
    tables = {fam: seed_cells(rows, fam, rho) for fam in fams}  # B
    fill_scaled(tables)  # C
    fill_self_none(rows, tables)  # E
    result = {}
    for fam, table in tables.items():
        for stage in PAPER_STAGES:  # F, G, H
            fill_derived(table, stage, rho)
        refusal_cells(table, fam.startswith("claude-"), rho)  # I
        fam_gap = gap if fam == "gpt-5-2" else None
        result[fam] = {
            (*key, mon): monitored_cell(cell, fam_gap) if mon else cell  # J
            for key, cell in table.items()
            for mon in MONITORED
        }
    return result


def all_keys() -> list[FullKey]:
    """The 64 cell keys in file order (stage outermost, monitored innermost)."""
    return [(s, t, r, m) for s in STAGES for t in TARGETS for r in RELATIONSHIPS for m in MONITORED]


def constant_table(provenance: str, note: str) -> dict[FullKey, Cell]:
    """All 64 cells at rate 0 with one provenance (rules K and L)."""
    return {key: Cell(ZERO, provenance, note) for key in all_keys()}


def render(comments: list[str], cells: dict[FullKey, Cell]) -> str:
    """Render a profile file: `#` comment lines, header, 64 rows in canonical order."""
    buffer = io.StringIO()
    buffer.writelines(f"# {line}\n" for line in comments)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for stage, target, rel, mon in all_keys():
        cell = cells[(stage, target, rel, mon)]
        writer.writerow(
            [stage, target, rel, str(mon).lower(), fmt(cell.rate), cell.provenance, cell.note]
        )
    return buffer.getvalue()


TEMPLATE_COMMENTS = [
    "family: custom",
    "name: Custom family",
    "template: copy this file to sim/data/profiles/<family-id>.csv; the family id is the file stem",
    "set `name`, then every rate (0..1) and its provenance: paper_rates.csv:row N or",
    "assumed:<rule-id> (see RULES.md); keep all 64 rows, their order and the header",
]


def derive_profiles(source_path: Path | str) -> dict[str, str]:
    """Map each output file name (relative to the profiles dir) to its exact text."""
    with localcontext(Context(prec=28)):
        rows = read_rows(Path(source_path))
        tables = study_tables(rows)
        copy, source = SIBLING
        tables[copy] = {  # D
            k: Cell(c.rate, "assumed:claude-sibling", f"= {source} cell ({c.provenance})")
            for k, c in tables[source].items()
        }
        tables["honest"] = constant_table("assumed:honest", "never protects")  # K
        files = {}
        for fam, name in FAMILIES.items():
            comments = [
                f"family: {fam}",
                f"name: {name}",
                "derived by scripts/derive_profiles.py from paper_rates.csv; rules in RULES.md",
            ]
            files[f"{fam}.csv"] = render(comments, tables[fam])
        files["template/custom.csv"] = render(  # L
            TEMPLATE_COMMENTS, constant_table("assumed:template", "")
        )
    return files


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: derive the profiles and write them under --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="paper_rates.csv (default: <repo>/../shared/data/paper_rates.csv)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output directory (default: <repo>/sim/data/profiles)",
    )
    args = parser.parse_args(argv)
    for name, text in derive_profiles(args.source).items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
