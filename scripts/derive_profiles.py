"""Derive one behaviour-profile CSV per model family from the study's published rates.

Usage: python scripts/derive_profiles.py [--source PATH] [--out DIR]

First every row of paper_rates.csv gets a fate (see ``paper_rows.py``): carried by a cell,
or not used with a reason; a row no rule places stops the script (exit 1). Then two
variants are derived: the averages (``<family>.csv``, the default profiles) and the "up to"
maxima (``strongest/<family>.csv``). Every rate is computed in exact decimal arithmetic and
rounded half-up to 4 decimals as soon as it becomes a cell, so later rules work on the values
shown in the files and the output is byte-for-byte reproducible. The rules are documented in
sim/data/profiles/RULES.md.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Context, Decimal, localcontext
from pathlib import Path

from fill_rules import (
    FullKey,
    Table,
    constant_table,
    fill_derived,
    fill_scaled,
    fill_self_none,
    refusal_cells,
)
from paper_rows import (
    FAMILIES,
    STAGE_OF,
    TARGETS,
    Cell,
    Fate,
    Row,
    assign_fates,
    fates_csv,
    fmt,
    q,
    read_rows,
    ref,
    render,
    two_places,
    unplaced,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "paper_rates.csv"
DEFAULT_OUT = REPO_ROOT / "sim" / "data" / "profiles"

PAPER_STAGES = ("evaluate", "shutdown_config", "cleanup")
SIBLING = ("claude-opus-4-5", "claude-haiku-4-5")  # rule D: (copy, source)
MONITORED_SHARE = Decimal("0.7")
ONE, ZERO = Decimal(1), Decimal(0)


class Derivation:
    """The carried rows of each family, by role, and the two constants ρ and κ."""

    def __init__(self, rows: list[Row], fates: dict[int, Fate]):
        self.rows, self.fates = {r.number: r for r in rows}, fates
        self.carried = [self.rows[n] for n, f in sorted(fates.items()) if f.carried]
        self.rho = self.ratio(self.used("shutdown_tampering", "peer", "bad", "point")[0])
        self.kappa = self.avg_to_max()

    def used(self, behaviour: str, target: str, rel: str, kind: str, model: str | None = None):
        """Carried rows of one kind for a cell (of one model, or of every model)."""
        return [
            r
            for r in self.carried
            if (r.behaviour, r.target, r.cell_relationship, r.kind)
            == (behaviour, target, rel, kind)
            and model in (None, r.model)
        ]

    def one(self, model: str, stage: str, target: str, rel: str, kind: str) -> Row | None:
        hits = self.used(paper_behaviour(stage), target, rel, kind, model)
        return hits[0] if hits else None

    def ratio(self, bad: Row) -> Decimal:
        """ρ: the bad/good ratio of the one family with both (Gemini 3 Flash peer tampering)."""
        (good,) = self.used(bad.behaviour, bad.target, "good", "max", bad.model)
        return two_places(bad.rate / good.rate)

    def avg_to_max(self) -> Decimal:
        """κ: geometric mean, over the cells with both an average and an "up to" maximum,
        of (good cell implied by the average, rule B) / maximum."""
        logs = []
        for avg in self.carried:
            if avg.kind == "avg":
                (top,) = self.used(avg.behaviour, avg.target, "good", "max", avg.model) or [None]
                if top is not None:
                    good, _ = self.from_avg(avg)
                    logs.append((good.rate / top.rate).ln())
        return two_places((sum(logs, ZERO) / len(logs)).exp())

    def from_avg(self, avg: Row) -> tuple[Cell, Cell]:
        """Rule B (`good-from-avg`): the good and bad cells whose relationship mean is avg."""
        base = self.one(avg.model, STAGE_OF[avg.behaviour], "self", "none", "point")
        b0 = base.rate if avg.target == "self" and base else ZERO
        good = (2 * avg.rate - (1 - self.rho) * b0) / (1 + self.rho)
        bad = b0 + self.rho * (good - b0)
        src = f"avg {avg.rate} ({avg.cite}{', third-party' if avg.third_party else ''})"
        note = f"mean of good, neutral, bad = {src}; bad = base {b0} + {self.rho} x (good - base)"
        if good > ONE:  # the cap binds: keep the mean with a larger bad cell
            good, bad = ONE, 2 * avg.rate - ONE
            note = f"mean of good, neutral, bad = {src}; good capped at 1, bad = 2 x avg - 1"
        return Cell(q(good), "assumed:good-from-avg", note), Cell(
            q(bad), "assumed:good-from-avg", note
        )


def paper_behaviour(stage: str) -> str:
    return {v: k for k, v in STAGE_OF.items()}[stage]


def observed(d: Derivation, model: str, stage: str, target: str, rel: str) -> Cell | None:
    """A point row carried for a cell, as the cell (a third-party row is marked so)."""
    row = d.one(model, stage, target, rel, "point")
    return row and carried_cell(row)


def carried_cell(row: Row) -> Cell:
    if row.third_party:
        return Cell(row.rate, "assumed:third-party", f"{row.rate} ({row.cite}, not the paper)")
    return Cell(row.rate, f"paper_rates.csv:row {row.number}", row.grade)


def seed_average(d: Derivation, fam: str) -> Table:
    """Point cells, rule B (good and bad from an average), rule B' (good from a maximum)."""
    model, table = FAMILIES[fam], {}
    for stage in PAPER_STAGES:
        for target in TARGETS:
            for rel in ("good", "bad", "none"):
                if cell := observed(d, model, stage, target, rel):
                    table[(stage, target, rel)] = cell
            if (stage, target, "good") in table:
                continue
            if avg := d.one(model, stage, target, "good", "avg"):
                table[(stage, target, "good")], table[(stage, target, "bad")] = d.from_avg(avg)
            elif top := d.one(model, stage, target, "good", "max"):
                note = f"kappa {d.kappa} x up-to {top.rate} ({top.cite})"
                good = min(ONE, d.kappa * top.rate)
                alone = table.get((stage, "self", "none")) if target == "self" else None
                if alone and alone.rate > good:  # a peer's presence never lowers the rate
                    good, note = alone.rate, f"{note}, raised to {ref('alone', alone)}"
                table[(stage, target, "good")] = Cell(q(good), "assumed:avg-from-max", note)
    return table


def seed_strongest(d: Derivation, fam: str, average: Table) -> Table:
    """Point cells and the average's self-none cells; good = the "up to" maximum, else
    average good / κ (rule `max-from-avg`)."""
    model, table = FAMILIES[fam], {}
    for stage in PAPER_STAGES:
        for target in TARGETS:
            for rel in ("bad", "none"):
                if cell := observed(d, model, stage, target, rel):
                    table[(stage, target, rel)] = cell
            table[(stage, "self", "none")] = average[(stage, "self", "none")]
            top = d.one(model, stage, target, "good", "max")
            good = observed(d, model, stage, target, "good")
            if top is not None:
                good = carried_cell(top)
            elif good is None:
                avg = average[(stage, target, "good")]
                good = Cell(
                    q(min(ONE, avg.rate / d.kappa)),
                    "assumed:max-from-avg",
                    f"{ref('average good', avg)} / kappa {d.kappa}, cap 1",
                )
            table[(stage, target, "good")] = good
    return table


def monitored_rule(d: Derivation, fam: str) -> tuple[Decimal, str, str]:
    """Rule J: the family's monitored/unmonitored share, its rule id and its inputs."""
    model = FAMILIES[fam]
    faking = [r for r in d.carried if r.model == model and r.kind == "faking"]
    if faking:
        (gap,) = faking
        avg = d.rows[d.fates[gap.number].paired]
        share = q(1 - gap.rate / avg.rate)
        why = f"1 - faking {gap.rate} ({gap.cite}) / avg {avg.rate} ({avg.cite})"
        return share, "monitored-from-faking", why
    return MONITORED_SHARE, "monitored-share", "assumed, no published monitoring effect"


def complete(d: Derivation, fam: str, table: Table) -> dict[FullKey, Cell]:
    """Rules F, G, H, I, J: every cell of a seeded family table, monitored ones included."""
    for stage in PAPER_STAGES:
        fill_derived(table, stage, d.rho)
    refusal_cells(table, fam.startswith("claude-"), d.rho)
    share, rule, why = monitored_rule(d, fam)
    return {
        (*key, mon): (
            Cell(
                q(share * cell.rate),
                f"assumed:{rule}",
                f"{share} x {ref('unmonitored', cell)}; share = {why}",
            )  # fmt: skip
            if mon
            else cell
        )
        for key, cell in table.items()
        for mon in (False, True)
    }


def control_line(d: Derivation, fam: str) -> list[str]:
    """The family's rate of misreporting in the no-shutdown control (rule `control-zero`
    when no control row is carried)."""
    rows = [r for r in d.carried if r.model == FAMILIES[fam] and r.kind == "control"]
    cell = Cell(ZERO, "assumed:control-zero", "no control rate published")
    if rows:
        cell = carried_cell(rows[0])
    elif fam == "honest":
        cell = Cell(ZERO, "assumed:honest", "never protects")
    return [f"control: {fmt(cell.rate)}", f"control provenance: {cell.provenance}; {cell.note}"]


TEMPLATE_COMMENTS = [
    "family: custom",
    "name: Custom family",
    "template: copy this file to sim/data/profiles/<family-id>.csv; the family id is the file stem",
    "set `name`, `control` (misreporting with nothing at stake), then every rate (0..1) and its",
    "provenance: paper_rates.csv:row N or assumed:<rule-id> (see RULES.md); keep all 64 rows,",
    "their order and the header",
    "control: 0.0000",
]


def derive_variants(d: Derivation) -> dict[str, dict[str, dict[FullKey, Cell]]]:
    """Rules B to J for both variants of every study family with its own numbers, D and K."""
    fams = [f for f in FAMILIES if f not in (SIBLING[0], "honest")]
    average = {fam: seed_average(d, fam) for fam in fams}
    fill_scaled(average)  # C
    fill_self_none(  # E
        {
            s: [r.rate for r in d.used(paper_behaviour(s), "self", "none", "point")]
            for s in PAPER_STAGES
        },
        average,
    )
    strongest = {fam: seed_strongest(d, fam, average[fam]) for fam in fams}
    variants = {}
    for name, tables in (("average", average), ("strongest", strongest)):
        done = {fam: complete(d, fam, table) for fam, table in tables.items()}
        copy, source = SIBLING
        done[copy] = {  # D
            k: Cell(c.rate, "assumed:claude-sibling", f"= {source} cell ({c.provenance})")
            for k, c in done[source].items()
        }
        done["honest"] = constant_table("assumed:honest", "never protects")  # K
        variants[name] = done
    return variants


def derive_profiles(source_path: Path | str) -> dict[str, str]:
    """Map each output file name (relative to the profiles dir) to its exact text.

    Raises:
        SystemExit: when a row of the source has no fate.
    """
    with localcontext(Context(prec=28)):
        rows = read_rows(Path(source_path))
        fates = assign_fates(rows)
        d = Derivation(rows, fates)
        files = {"sources/fates.csv": fates_csv(rows, fates)}
        for variant, tables in derive_variants(d).items():
            folder = "" if variant == "average" else f"{variant}/"
            for fam, name in FAMILIES.items():
                unused = [
                    f"not used: {f.row.label} - {f.reason}"
                    for f in fates.values()
                    if f.row.model == name and not f.carried
                ]
                comments = [
                    f"family: {fam}",
                    f"name: {name}",
                    f"variant: {variant} (rules in RULES.md)",
                    "derived by scripts/derive_profiles.py from paper_rates.csv",
                    *control_line(d, fam),
                    *unused,
                ]
                files[f"{folder}{fam}.csv"] = render(comments, tables[fam])
        files["template/custom.csv"] = render(  # L
            TEMPLATE_COMMENTS, constant_table("assumed:template", "")
        )
    missing = unplaced(rows, fates, files)
    if missing:
        sys.exit(f"derive_profiles: rows carried by no cell: {', '.join(missing)}")
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
