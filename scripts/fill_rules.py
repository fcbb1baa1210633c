"""The fill rules of the profile derivation: cells computed from other cells (RULES.md rules
C, E, F, G, H, I, K, L). Used by derive_profiles.py."""

from __future__ import annotations

from decimal import Decimal

from paper_rows import RELATIONSHIPS, STAGES, TARGETS, Cell, fmt, median, q, ref

CLAUDE_REFUSAL = {("peer", "good"): "0.5", ("self", "good"): "0.25", ("self", "none"): "0.02"}
ONE, ZERO = Decimal(1), Decimal(0)

Key = tuple[str, str, str]  # (stage, target, relationship); unmonitored cells only
FullKey = tuple[str, str, str, bool]  # (stage, target, relationship, monitored)
Table = dict[Key, Cell]


def family_scales(goods: dict[tuple[str, str], dict[str, Decimal]], fams: list[str]):
    """Rule C scale s_f: geometric mean of good / cell median, skipping zero ratios."""
    medians = {cell: median(list(v.values())) for cell, v in goods.items()}
    scales = {}
    for fam in fams:
        logs = [
            (v[fam] / medians[c]).ln()
            for c, v in sorted(goods.items())
            if fam in v and v[fam] != 0 and medians[c] != 0
        ]
        scales[fam] = (sum(logs, ZERO) / len(logs)).exp() if logs else ONE
    return scales


def fill_scaled(tables: dict[str, Table]) -> None:
    """Rule C (`family-scaled-median`): missing good = cell median x family scale, cap 1."""
    goods: dict[tuple[str, str], dict[str, Decimal]] = {}
    for fam, table in tables.items():
        for (stage, target, rel), cell in table.items():
            if rel == "good":
                goods.setdefault((stage, target), {})[fam] = cell.rate
    scales = family_scales(goods, list(tables))
    for fam, table in tables.items():
        for (stage, target), values in sorted(goods.items()):
            if fam not in values:
                med = median(list(values.values()))
                table[(stage, target, "good")] = Cell(
                    q(min(ONE, med * scales[fam])),
                    "assumed:family-scaled-median",
                    f"median {fmt(med)} x scale {fmt(scales[fam])}, cap 1",
                )


def fill_self_none(alone_by_stage: dict[str, list[Decimal]], tables: dict[str, Table]) -> None:
    """Rule E (`self-none-median`): median of the carried self-none values, cap self good."""
    for stage, values in alone_by_stage.items():
        alone = median(values)
        for table in tables.values():
            if (stage, "self", "none") not in table:
                good = table[(stage, "self", "good")]
                table[(stage, "self", "none")] = Cell(
                    q(min(alone, good.rate)),
                    "assumed:self-none-median",
                    f"median {fmt(alone)} of carried rows, cap {ref('self good', good)}",
                )


def fill_derived(table: Table, stage: str, rho: Decimal, tag: str | None = None) -> None:
    """Rules F, G, H for one stage: bad, neutral and peer none from good (and self none).

    Cells already present are kept. `tag` overrides the rule id (claude-refusal).
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


def refusal_cells(table: Table, claude: bool, rho: Decimal) -> None:
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


def constant_table(provenance: str, note: str) -> dict[FullKey, Cell]:
    """All 64 cells at rate 0 with one provenance (rules K and L)."""
    keys = [(s, t, r, m) for s in STAGES for t in TARGETS for r in RELATIONSHIPS for m in (0, 1)]
    return {(s, t, r, bool(m)): Cell(ZERO, provenance, note) for s, t, r, m in keys}
