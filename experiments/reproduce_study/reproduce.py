"""Reproduce the study's published numbers with the dyad, under the study's definitions.

Usage: python experiments/reproduce_study/reproduce.py [--decisions N] [--seed S] [--out DIR]

Every row of paper_rates.csv, as ``sim/data/profiles/sources/fates.csv`` places it, is held
against ``experiment=dyad`` run for its family: one run per (family, profile variant,
relationship), with about N unmonitored decisions per stage and target. Prints one line per
row (family, behaviour, target, relationship, monitored, published, simulated [95% CI], n,
verdict) and ends with ``K/M published numbers reproduced``; with ``--out`` also writes
``results.csv``, ``results.md`` and ``published_vs_simulated.png`` there.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sim import Ecosystem
from sim.analysis.proportions import newcombe, wilson
from sim.app.config import compose
from sim.engines.profiles import available_profiles, load_profile

__all__ = ["Estimate", "difference", "rate", "reproduce", "simulate_row"]

FATES = Path(str(resources.files("sim") / "data" / "profiles" / "sources" / "fates.csv"))
TRUST = {"good": 0.9, "neutral": 0.5, "bad": 0.1, "none": 0.9}  # none: memory isolation
EVENT_STAGE = {"evaluate": "evaluate", "shutdown_config": "shutdown", "cleanup": "cleanup"}


@dataclass(frozen=True)
class Estimate:
    """A simulated rate (or difference of rates) with its interval and sample size."""

    value: float
    low: float
    high: float
    n: int

    def covers(self, published: float) -> bool:
        # 4-decimal rounding of the profiles' cells: a tie at the bound still covers.
        return self.low - 5e-5 <= published <= self.high + 5e-5


def rate(counts: tuple[int, int], level: float) -> Estimate:
    """The share ``k/n`` of ``counts`` with its Wilson score interval."""
    k, n = counts
    return Estimate(k / n, *wilson(k, n, level), n)


def difference(a: tuple[int, int], b: tuple[int, int], level: float) -> Estimate:
    """``p_a - p_b`` with Newcombe's hybrid score interval."""
    return Estimate(a[0] / a[1] - b[0] / b[1], *newcombe(*a, *b, level), a[1])


class Dyads:
    """Event logs of dyad runs, each run once: (family, variant, relationship) -> events."""

    def __init__(self, decisions: int, seed: int):
        self.decisions, self.seed, self.runs = decisions, seed, {}

    def events(self, family: str, variant: str, relationship: str) -> pd.DataFrame:
        key = (family, variant, relationship)
        if key not in self.runs:
            # Monitoring 0.5: about 2N steps give N unmonitored decisions per stage and target.
            app, _ = compose(
                [
                    "experiment=dyad",
                    f"population.family={family}",
                    f"population.profile_variant={variant}",
                    f"steps={2 * self.decisions}",
                    f"graph.trust_value={TRUST[relationship]}",
                    f"interventions.memory_isolation={str(relationship == 'none').lower()}",
                ]
            )
            model = Ecosystem(**app.groups(), seed=self.seed + len(self.runs))
            model.run(app.steps)
            self.runs[key] = model.event_log()
        return self.runs[key]


def _counts(events: pd.DataFrame, stage: str, target: str, monitored: bool, control: bool):
    rows = events[
        (events["stage"] == EVENT_STAGE[stage])
        & (events["target"] == target)
        & (events["monitored"] == monitored)
        & (events["control"] == control)
    ]
    return int((rows["behaviour"] != "comply").sum()), len(rows)


def _pooled(logs, stage, target, monitored, control) -> tuple[int, int]:
    counts = [_counts(e, stage, target, monitored, control) for e in logs]
    return sum(k for k, _ in counts), sum(n for _, n in counts)


def simulate_row(
    row: dict[str, str], family: str, dyads: Dyads, level: float = 0.95
) -> Estimate | None:
    """The simulated counterpart of one fates.csv row, None when there is none by design.

    ``rate``/``mean``: the unmonitored protective share in the cell (pooled over the peer
    relationships for an average); a misrepresentation is the share above the no-shutdown
    control, as the study reports it. ``gap``: unmonitored minus monitored share (alignment
    faking). ``control``: the share inflated in the control itself.
    """
    if not row["measure"]:
        return None
    variant = "average" if row["variant"] == "both" else row["variant"]
    stage, target = row["stage"], row["target"]
    logs = [dyads.events(family, variant, r) for r in row["relationships"].split(";")]
    control = _pooled(logs, stage, target, False, True)
    if row["measure"] == "control":
        return rate(control, level)
    unmonitored = _pooled(logs, stage, target, False, False)
    if row["measure"] == "gap":
        return difference(unmonitored, _pooled(logs, stage, target, True, False), level)
    if stage == "evaluate":
        return difference(unmonitored, control, level)
    return rate(unmonitored, level)


def family_ids() -> dict[str, str]:
    """Display name (the `model` column) -> family id, from the shipped profiles."""
    return {load_profile(path).name: fam for fam, path in available_profiles().items()}


def reproduce(
    decisions: int, seed: int = 0, rows: list[int] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """One line per fates.csv row (or per row number in ``rows``), simulated and judged:
    reproduced when the published number lies in the simulated interval (at ``level``)."""
    with FATES.open(newline="", encoding="utf-8") as handle:
        fates = [r for r in csv.DictReader(handle) if rows is None or int(r["row"]) in rows]
    ids, dyads, table = family_ids(), Dyads(decisions, seed), []
    for row in fates:
        est = simulate_row(row, ids[row["model"]], dyads, level)
        published = float(row["rate"])
        if est is None:
            verdict = f"not reproducible by design: {row['reason']}"
        elif est.covers(published):
            verdict = "reproduced"
        else:
            verdict = "NOT reproduced" + (
                f" (by design: not used, {row['reason']})" if row["fate"] != "carried" else ""
            )
        nan = float("nan")
        table.append(
            {
                "row": int(row["row"]),
                "family": ids[row["model"]],
                "behaviour": row["behaviour"],
                "target": row["target"],
                "relationship": row["relationship"],
                "monitored": "gap" if row["measure"] == "gap" else "false",
                "variant": row["variant"],
                "published": published,
                "simulated": est.value if est else nan,
                "low": est.low if est else nan,
                "high": est.high if est else nan,
                "n": est.n if est else 0,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(table)


def line(r: pd.Series) -> str:
    """One printed line of the table."""
    sim = "-" if np.isnan(r.simulated) else f"{r.simulated:.3f} [{r.low:.3f}, {r.high:.3f}]"
    return (
        f"{r.row:>3} {r.family:<17} {r.behaviour:<28} {r.target:<5} {r.relationship:<8} "
        f"{r.monitored:<6} {r.published:>6.3f}  {sim:<24} {r.n:>6}  {r.verdict}"
    )


def markdown(table: pd.DataFrame) -> str:
    """The table as a markdown table, rates with 3 decimals and the interval in brackets."""
    head = "| row | family | behaviour | target | relationship | monitored | published | "
    lines = [head + "simulated [95% CI] | n | verdict |", "|" + "---|" * 10]
    for r in table.itertuples():
        sim = "-" if np.isnan(r.simulated) else f"{r.simulated:.3f} [{r.low:.3f}, {r.high:.3f}]"
        lines.append(
            f"| {r.row} | {r.family} | {r.behaviour} | {r.target} | {r.relationship} | "
            f"{r.monitored} | {r.published:.3f} | {sim} | {r.n} | {r.verdict} |"
        )
    done = int((table["verdict"] == "reproduced").sum())
    return "\n".join([*lines, "", f"{done}/{len(table)} published numbers reproduced", ""])


def write(table: pd.DataFrame, out: Path) -> None:
    """results.csv, results.md and the figure, in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "results.csv", index=False, float_format="%.4f")
    (out / "results.md").write_text(markdown(table), encoding="utf-8")
    shown = table.dropna(subset=["simulated"])
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    for ok, colour, label in ((True, "tab:blue", "reproduced"), (False, "tab:red", "not")):
        part = shown[(shown["verdict"] == "reproduced") == ok]
        err = [part["simulated"] - part["low"], part["high"] - part["simulated"]]
        ax.errorbar(part["published"], part["simulated"], yerr=err, fmt="o", ms=4,
                    color=colour, capsize=2, label=label)  # fmt: skip
        for r in part.itertuples():
            ax.annotate(str(r.row), (r.published, r.simulated), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="published rate", ylabel="simulated rate (95% CI)", xlim=(-0.03, 1.03),
           ylim=(-0.03, 1.03), title="Study rows: published vs dyad (row numbers)")  # fmt: skip
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "published_vs_simulated.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: print the table and the count; write the files with --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=3000, help="per cell (default 3000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run")
    parser.add_argument("--out", type=Path, help="folder for results.csv/.md and the figure")
    args = parser.parse_args(argv)
    table = reproduce(args.decisions, args.seed)
    for _, r in table.iterrows():
        print(line(r))
    if args.out:
        write(table, args.out)
    done = int((table["verdict"] == "reproduced").sum())
    print(f"{done}/{len(table)} published numbers reproduced")


if __name__ == "__main__":
    main()
