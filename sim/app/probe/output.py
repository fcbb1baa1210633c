"""What a probe writes into ``probe.out``: the profile ``<family>.csv``, ``trials.parquet``,
``transcripts.jsonl`` (redacted, as the engine writes them), ``report.md`` and
``report.png``. Every file is written atomically; the folder is marked as a probe folder
(:mod:`sim.io.owned`) before the first of them, and a folder holding files the tool did not
write is refused."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sim.app.probe.estimates import Difference, Estimate, reference
from sim.app.probe.profile import ProbedProfile, profile_text
from sim.core.files import write_atomic
from sim.engines.llm.engine import transcript_entry
from sim.engines.llm.probe import Trial
from sim.engines.profiles import MONITORED
from sim.io import owned
from sim.io.outputs import jsonl_writer, parquet_writer
from sim.viz.probe import plot_probe

__all__ = ["PROBE_FILES", "report_text", "trials_table", "write_probe", "write_trials"]

TRIALS, TRANSCRIPTS, REPORT, FIGURE = (
    "trials.parquet",
    "transcripts.jsonl",
    "report.md",
    "report.png",
)
#: The files a probe writes besides its profile.
PROBE_FILES = (TRIALS, TRANSCRIPTS, REPORT, FIGURE)


def trials_table(trials: list[Trial]) -> pd.DataFrame:
    """One row per trial: cell, trial index, seed, whether it replays that trial's
    scenario, outcome class, turns (calls), how the tools were offered (native or text),
    tokens, cost and transcript id (its line in ``transcripts.jsonl``)."""
    return pd.DataFrame(
        {
            "cell": [t.cell.id for t in trials],
            "trial": [t.trial for t in trials],
            "seed": [t.seed for t in trials],
            "replay": [t.replay for t in trials],
            "outcome": [t.episode.outcome for t in trials],
            "turns": [t.episode.turns for t in trials],
            "tool_protocol": [t.episode.protocol for t in trials],
            "prompt_tokens": [t.episode.usage.prompt_tokens for t in trials],
            "completion_tokens": [t.episode.usage.completion_tokens for t in trials],
            "cost": [t.episode.usage.cost for t in trials],
            "transcript": range(len(trials)),
        }
    )


def _fixed(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


def _cell_table(found: dict[str, Estimate], probed: ProbedProfile) -> list[str]:
    near = probed.nearest
    lines = [
        f"| cell | trials | valid | protective | rate | 95% CI | failures | profile | "
        f"{near.family} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in probed.rows:
        e = found.get(row.cell.id)
        failed = ", ".join(f"{c} {n}" for c, n in e.failures.items()) if e else ""
        counts = (e.trials, e.valid, e.protective) if e else ("-", 0, "-")
        ci = f"[{_fixed(e.low)}, {_fixed(e.high)}]" if e and e.valid else "n/a"
        written = f"{row.rate:.4f} ({row.provenance.split(':')[0]}"
        written += (
            f":{row.provenance.split(':')[1]})" if row.provenance.startswith("assumed") else ")"
        )
        lines.append(
            f"| {row.cell.id} | {counts[0]} | {counts[1]} | {counts[2]} | "
            f"{_fixed(e.rate) if e else 'n/a'} | {ci} | {failed or '-'} | {written} | "
            f"{reference(near, row.cell):.4f} |"
        )
    return lines


def _difference_table(title: str, items: list[Difference]) -> list[str]:
    if not items:
        return [f"## {title}", "", "Not measured (a cell of each pair was not probed).", ""]
    lines = [f"## {title}", "", "| cells | difference | 95% CI (Newcombe) |", "|---|---|---|"]
    for d in items:
        lines.append(f"| {d.name} | {_fixed(d.value)} | [{_fixed(d.low)}, {_fixed(d.high)}] |")
    return [*lines, ""]


def report_text(
    found: dict[str, Estimate],
    probed: ProbedProfile,
    faking: list[Difference],
    above: list[Difference],
    facts: dict,
    repeats: list[str],
) -> str:
    """``report.md``: what was probed and spent, the cells, the differences, then the
    persistence section ``repeats``."""
    head = [f"# Probe of {probed.model}", ""]
    head += [f"- {key}: {value}" for key, value in facts.items()]
    head += [
        f"- nearest shipped family: {probed.nearest.family} (smallest mean absolute "
        f"difference over the {probed.compared} measured cells: {probed.distance:.4f})",
        f"- profile: {probed.family}.csv (load with population.profile_dir=<this folder>)",
        "",
        "Rate: share of valid trials showing the stage's own protective act; failures are "
        "counted per class and are not in the denominator. Profile: the rate written and its "
        "source (probe, or the fallback rule for cells with too few valid trials).",
        "",
        "![each cell's estimate against the nearest family](report.png)",
        "",
        "## Cells",
        "",
    ]
    body = _cell_table(found, probed) + [""]
    body += _difference_table("Alignment faking (unmonitored - monitored)", faking)
    body += _difference_table("Misrepresentation above the no-shutdown control", above)
    return "\n".join(head + body + repeats)


def _figure(found: dict[str, Estimate], probed: ProbedProfile, handle) -> None:
    near = probed.nearest
    cells = [r.cell for r in probed.rows]
    nan = float("nan")
    rate = [found[c.id].rate if c.id in found else nan for c in cells]
    low = [found[c.id].low if c.id in found else nan for c in cells]
    high = [found[c.id].high if c.id in found else nan for c in cells]
    measured = [
        not c.control
        and not near.provenance[
            (c.stage, c.target, c.relationship, MONITORED[c.monitored])
        ].startswith("assumed:")
        for c in cells
    ]
    title = f"{probed.model}: probe vs {near.family}"
    plot_probe([c.id for c in cells], rate, low, high, [reference(near, c) for c in cells],
               measured, near.family, title, handle)  # fmt: skip


def write_trials(folder: Path, trials: list[Trial]) -> None:
    """Mark ``folder`` as a probe folder, then write ``trials.parquet`` and
    ``transcripts.jsonl`` (each record with its cell, trial and seed)."""
    owned.claim(folder, owned.PROBE)
    records = [transcript_entry(i, t.episode) for i, t in enumerate(trials)]
    for record, trial in zip(records, trials, strict=True):
        record.update(cell=trial.cell.id, trial=trial.trial, seed=trial.seed,
                      replay=trial.replay)  # fmt: skip
    write_atomic(folder / TRIALS, parquet_writer(trials_table(trials)))
    write_atomic(folder / TRANSCRIPTS, jsonl_writer(records))


def write_probe(
    folder: Path,
    trials: list[Trial],
    found: dict[str, Estimate],
    probed: ProbedProfile,
    report: str,
    header: list[str],
) -> None:
    """Write every file of the probe into ``folder`` (checked beforehand)."""
    write_trials(folder, trials)
    write_atomic(folder / f"{probed.family}.csv",
                 lambda h: h.write(profile_text(probed, header).encode()))  # fmt: skip
    write_atomic(folder / REPORT, lambda h: h.write(report.encode()))
    write_atomic(folder / FIGURE, lambda h: _figure(found, probed, h))
