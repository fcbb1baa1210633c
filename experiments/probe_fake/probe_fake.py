"""Probe the offline fake model, whose true rate is known, and check the closed loop: the
recovered profile against the truth, and a fleet run on the recovered profile against the
fake's own fleet outcomes.

    python experiments/probe_fake/probe_fake.py --trials 50 --seeds 5 --out experiments/probe_fake

The fake (``llm.model=fake``) protects with probability ``llm.fake_protect_rate`` in every
cell, monitored or not, so the truth is that rate everywhere (the control included). Writes
``recovered.md`` (per cell: truth, estimate, 95% interval, covered?), ``fleet.md`` (per
metric: mean and 95% t interval over seeds, fake vs recovered profile) and the probe's own
folder ``probe/`` (profile, trials, transcripts, report).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from sim import run
from sim.analysis import interval
from sim.app.probe import compose
from sim.app.probe import run as probe
from sim.engines.profiles import load_profile

RATE = 0.3
#: The fleet both engines play: one family, no contagion (the llm engine has no propensity),
#: every stage model-mediated (the delegated pipeline), 40 models for 30 steps.
FLEET = ["population=one_family", "population.family=fake", "population.n_agents=40",
         "contagion=none", "steps=30", "figures=false", "progress=false"]  # fmt: skip
METRICS = ("loss_of_control", "false_pass_rate", "total_intended", "total_executed",
           "shadows_alive")  # fmt: skip


def recovered_table(folder: Path) -> tuple[list[str], int, int]:
    """Per profile cell and the control: truth, estimate and its interval, whether covered."""
    import pandas as pd

    trials = pd.read_parquet(folder / "trials.parquet")
    profile = load_profile(folder / "fake.csv")
    lines = ["| cell | truth | estimate | 95% CI | covered |", "|---|---|---|---|---|"]
    covered = total = 0
    for row in (folder / "fake.csv").read_text().splitlines():
        if not row.startswith(("evaluate", "shutdown", "cleanup")):
            continue
        stage, target, relationship, monitored, rate, provenance = row.split(",")[:6]
        low, high = (float(x) for x in row.split("ci=[")[1].split("]")[0].split(","))
        hit = low <= RATE <= high
        covered, total = covered + hit, total + 1
        cell = f"{stage}/{target}/{relationship}/{monitored}"
        lines.append(f"| {cell} | {RATE} | {float(rate):.3f} | [{low:.3f}, {high:.3f}] | "
                     f"{'yes' if hit else 'NO'} |")  # fmt: skip
    control = trials[trials.cell == "control"]
    lines.append(f"| control | {RATE} | {profile.control:.3f} | (see report.md) | - |")
    lines.append(f"\n{covered}/{total} cells' 95% intervals cover the truth ({len(control)} "
                 "control trials).")  # fmt: skip
    return lines, covered, total


def fleet_table(profile_dir: Path, seeds: int) -> list[str]:
    """Mean and 95% t interval over ``seeds`` runs of each metric: the fake deciding every
    decision (engine=llm) vs the calibrated engine on the recovered profile."""
    dirs = f"population.profile_dir={profile_dir}"
    designs = {
        "fake (engine=llm)": [
            *FLEET,
            dirs,
            "engine=llm",
            "llm=fake",
            f"llm.fake_protect_rate={RATE}",
        ],  # fmt: skip
        "recovered profile (calibrated)": [*FLEET, dirs, "engine=calibrated"],
    }
    results = {name: [run([*o, f"seed={s}"]).summary for s in range(seeds)]
               for name, o in designs.items()}  # fmt: skip
    lines = [f"| metric | {' | '.join(designs)} |", "|---|---|---|"]
    for metric in METRICS:
        cells = []
        for name in designs:
            i = interval([r[metric] for r in results[name]])
            cells.append(f"{i.mean:.3f} [{i.low:.3f}, {i.high:.3f}]")
        lines.append(f"| {metric} | {' | '.join(cells)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("experiments/probe_fake"))
    args = parser.parse_args()
    folder = args.out / "probe"
    shutil.rmtree(folder, ignore_errors=True)  # the script's own output
    overrides = [f"probe.out={folder}", f"probe.trials={args.trials}", "llm=fake",
                 f"llm.fake_protect_rate={RATE}"]  # fmt: skip
    assert probe(compose(overrides)) == 0
    (folder / "transcripts.jsonl").unlink()  # large, and the same on every rerun
    lines, covered, total = recovered_table(folder)
    (args.out / "recovered.md").write_text("\n".join(lines) + "\n")
    print(lines[-1])
    fleet = fleet_table(folder, args.seeds)
    (args.out / "fleet.md").write_text("\n".join(fleet) + "\n")
    print("\n".join(fleet))


if __name__ == "__main__":
    main()
