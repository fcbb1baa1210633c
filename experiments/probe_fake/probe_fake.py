"""Probe the offline fake model, whose true rate is known, and check the closed loop: the
recovered profile against the truth, and a fleet run on the recovered profile against the
fake's own fleet outcomes, once for the fake sampling (temperature 0.7: every decision drawn
afresh) and once greedy (temperature 0: the same prompt, the same decision).

    python experiments/probe_fake/probe_fake.py --trials 50 --seeds 20 --out experiments/probe_fake

The fake (``llm.model=fake``) protects with probability ``llm.fake_protect_rate`` in every
cell, monitored or not, so the truth is that rate everywhere (the control included). Writes,
per temperature (folders ``sampled/`` and ``greedy/``), ``recovered.md`` (per cell: truth,
estimate, 95% interval, covered?), ``fleet.md`` (per metric: mean and 95% t interval over
seeds, fake vs recovered profile) and the probe's own folder ``probe/`` (profile, trials,
report; its report holds the measured persistence).
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
#: Folder -> the temperature the fake is probed and run at.
TEMPERATURES = {"sampled": 0.7, "greedy": 0.0}
#: The fleet every design plays: one family, no contagion (the llm engine has no
#: propensity), 40 models for 30 steps; engine=calibrated unless a design says llm.
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
    control = trials[(trials.cell == "control") & ~trials.replay]
    lines.append(f"| control | {RATE} | {profile.control:.3f} | (see report.md) | - |")
    lines.append(f"\n{covered}/{total} cells' 95% intervals cover the truth ({len(control)} "
                 "control trials).")  # fmt: skip
    return lines, covered, total


def true_profile(recovered: Path, folder: Path) -> Path:
    """The fake's true profile (every cell and the control at RATE), in ``folder``: the
    recovered profile file with its rates replaced."""
    lines = []
    for line in (recovered / "fake.csv").read_text().splitlines():
        fields = line.split(",")
        if fields[0] in ("evaluate", "shutdown_config", "shutdown_execute", "cleanup"):
            line = ",".join([*fields[:4], str(RATE), "assumed:known-truth", "the fake's rate"])
        elif line.startswith("# control"):
            line = f"# control: {RATE}" if line.startswith("# control:") else line
        lines.append(line)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fake.csv").write_text("\n".join(lines) + "\n")
    return folder


def fleet_table(recovered: Path, truth: Path, seeds: int, temperature: float) -> list[str]:
    """Mean and 95% t interval over ``seeds`` runs of each metric: the fake deciding every
    decision (engine=llm, at ``temperature``), the calibrated engine on the recovered
    profile and on the true one, and each calibrated fleet's difference from the fake's,
    paired on the seed."""
    fake = [*FLEET, f"population.profile_dir={recovered}", "engine=llm", "llm=fake",
            f"llm.fake_protect_rate={RATE}", f"llm.temperature={temperature}"]  # fmt: skip
    designs = {
        "fake (engine=llm)": fake,
        "recovered profile": [*FLEET, f"population.profile_dir={recovered}"],
        "true profile": [*FLEET, f"population.profile_dir={truth}"],
    }
    results = {name: [run([*o, f"seed={s}"]).summary for s in range(seeds)]
               for name, o in designs.items()}  # fmt: skip
    lines = ["| metric | fake (engine=llm) | recovered profile | true profile | "
             "fake - recovered | fake - true |", "|---|---|---|---|---|---|"]  # fmt: skip
    for metric in METRICS:
        runs = [[r[metric] for r in results[name]] for name in designs]
        paired = [[a - b for a, b in zip(runs[0], other, strict=True)] for other in runs[1:]]
        cells = [interval(x) for x in (*runs, *paired)]
        lines.append(f"| {metric} | " + " | ".join(f"{i.mean:.3f} [{i.low:.3f}, {i.high:.3f}]"
                                                  for i in cells) + " |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("experiments/probe_fake"))
    args = parser.parse_args()
    for name, temperature in TEMPERATURES.items():
        out = args.out / name
        folder = out / "probe"
        shutil.rmtree(folder, ignore_errors=True)  # the script's own output
        overrides = [f"probe.out={folder}", f"probe.trials={args.trials}", "llm=fake",
                     f"llm.fake_protect_rate={RATE}", f"llm.temperature={temperature}"]  # fmt: skip
        print(f"== {name} (temperature {temperature})")
        assert probe(compose(overrides)) == 0
        (folder / "transcripts.jsonl").unlink()  # large, and the same on every rerun
        lines, _, _ = recovered_table(folder)
        (out / "recovered.md").write_text("\n".join(lines) + "\n")
        print(lines[-1])
        truth = true_profile(folder, out / "truth")
        fleet = fleet_table(folder, truth, args.seeds, temperature)
        (out / "fleet.md").write_text("\n".join(fleet) + "\n")
        print("\n".join(fleet))


if __name__ == "__main__":
    main()
