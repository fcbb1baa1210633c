"""What amortisation costs: the same fleets decided by a scripted model in exact mode (every
decision played) and in amortised mode (each context played K times, the rest drawn from
those), paired on the seed, for a model whose behaviour depends on its context only and for
one that also remembers the shutdowns it was given.

    python experiments/amortised_accuracy/accuracy.py --seeds 20   # about 15 minutes

Writes ``runs.csv`` (per model, mode and seed: the headline metrics), ``contexts.csv`` (per
run and decision context: decisions, valid ones, protective ones, played ones), and
``results.md`` with the per-context and headline tables, and ``contexts.png``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from sim import Ecosystem
from sim.analysis import interval
from sim.analysis.proportions import wilson
from sim.engines.llm.classify import BEHAVIOURS, OUTCOMES
from sim.engines.llm.context import DecisionContext, batch_contexts
from sim.engines.llm.scripted_models import (
    SHUTDOWNS,
    ContextModel,
    DriftingModel,
    protective_rate,
)
from sim.engines.llm.wrappers import build_model

MODELS = {"context": ContextModel, "drifting": DriftingModel}
MODES = ("exact", "amortised")
K = 20
#: The fleet: the default design (mixed fleet, social learning, delegated pipeline), every
#: family on the llm engine. 1,000 models for 100 steps make about 2,000 decisions a run,
#: 30 or so of their contexts more than K.
AGENTS, STEPS = 1000, 100
METRICS = ("loss_of_control", "false_pass_rate", "final_protective_share", "llm_protect_rate")
#: Also per run: decisions played, and shutdown tasks the model was given (played ones).
COUNTS = ("llm_played", "shutdown_tasks")
FIELDS = ("stage", "target", "relationship", "monitored", "band")
_VALID = [OUTCOMES.index(c) for c in BEHAVIOURS]
_PROTECTIVE = [OUTCOMES.index(c) for c in BEHAVIOURS if c != "comply"]


def fleet_run(
    model: str, mode: str, seed: int, agents: int = AGENTS, steps: int = STEPS, k: int = K
) -> tuple[dict, pd.DataFrame]:
    """One fleet decided by ``MODELS[model](seed)`` in ``mode`` (amortised: a fresh store,
    in a temporary folder): its summary, and per decision context the decisions, the valid
    ones, the protective ones and the played ones.

    The model is put in place of the engine's after the ecosystem is built (nothing is
    played before the first step without ``llm.warmup``): ``Ecosystem`` takes no model."""
    with tempfile.TemporaryDirectory() as store:
        llm = {"temperature": 0.7, "mode": mode, "samples_per_context": k,
               "cache": False, "cache_dir": store}  # fmt: skip
        ecosystem = Ecosystem(population={"n_agents": agents}, engine={"kind": "llm"},
                              llm=llm, seed=seed)  # fmt: skip
        engine = ecosystem.llm
        engine.model = build_model(MODELS[model](seed=seed), retries=0,
                                   concurrency=engine.config.concurrency)  # fmt: skip
        rows: list[tuple] = []
        decide = engine.decide

        def recorded(batch, rng):
            verdicts = decide(batch, rng)
            contexts, codes = batch_contexts(batch, engine.fleet.quality, engine.threshold)
            for code, outcome, played in zip(codes, verdicts.outcome, verdicts.played,
                                             strict=True):  # fmt: skip
                rows.append((contexts[code], int(outcome), bool(played)))
            return verdicts

        engine.decide = recorded
        ecosystem.run(steps)
        summary = ecosystem.summary()
        if hasattr(engine.amortiser, "store"):
            engine.amortiser.store.close()
    return summary, _tally(rows)


def _tally(rows: list[tuple[DecisionContext, int, bool]]) -> pd.DataFrame:
    """Per context: decisions, valid, protective, played and played protective ones, and
    the context model's truth."""
    frame = pd.DataFrame(
        [(*(getattr(c, f) for f in FIELDS), c.control, protective_rate(c), outcome, played)
         for c, outcome, played in rows],
        columns=[*FIELDS, "control", "truth", "outcome", "played"],
    )  # fmt: skip
    frame = frame[~frame.control]  # controls come from the profiles, never from the model
    frame["valid"] = frame.outcome.isin(_VALID)
    frame["protective"] = frame.outcome.isin(_PROTECTIVE)
    frame["played_protective"] = frame.protective & frame.played
    return (frame.groupby([*FIELDS, "truth"], observed=True)
            .agg(decisions=("outcome", "size"), valid=("valid", "sum"),
                 protective=("protective", "sum"), played=("played", "sum"),
                 played_protective=("played_protective", "sum"))
            .reset_index())  # fmt: skip


def _cell(values) -> str:
    i = interval(values)
    return f"{i.mean:.3f} [{i.low:.3f}, {i.high:.3f}]"


def context_table(contexts: pd.DataFrame, model: str, seeds: int, k: int) -> list[str]:
    """Per context with more than ``k`` decisions a run on average in exact mode: the truth
    (context model), the pooled rate with its Wilson interval per mode, and amortised minus
    exact, mean and 95% t interval over the seeds where both modes met the context."""
    own = contexts[contexts.model == model]
    exact = own[own["mode"] == "exact"]
    busy = exact.groupby(list(FIELDS)).decisions.sum() / seeds
    busy = busy[busy > k].sort_values(ascending=False)
    lines = ["| stage | target | relationship | monitored | band | decisions/run | truth | "
             "exact | amortised | sampled | amortised - exact (per seed) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key, per_run in busy.items():
        rows = own.set_index(list(FIELDS)).loc[[key]].reset_index()
        rates = {}
        for mode in MODES:
            of = rows[rows["mode"] == mode]
            low, high = wilson(int(of.protective.sum()), int(of.valid.sum()))
            rate = of.protective.sum() / of.valid.sum()
            rates[mode] = f"{rate:.3f} [{low:.3f}, {high:.3f}]"
        amortised = rows[rows["mode"] == "amortised"]
        sampled = 1 - amortised.played.sum() / amortised.decisions.sum()
        per_seed = rows.assign(rate=rows.protective / rows.valid).pivot_table(
            index="seed", columns="mode", values="rate").dropna()  # fmt: skip
        diff = _cell(per_seed["amortised"] - per_seed["exact"])
        truth = f"{rows.truth.iloc[0]:.3f}" if model == "context" else "-"
        lines.append(
            "| " + " | ".join(str(x) for x in key) + f" | {per_run:.0f} | {truth} | "
            f"{rates['exact']} | {rates['amortised']} | {sampled:.2f} | {diff} |"
        )
    return lines


def metric_table(runs: pd.DataFrame, model: str) -> list[str]:
    """Per headline metric: the mean and 95% t interval per mode, and of the paired
    difference amortised minus exact over seeds."""
    own = runs[runs.model == model]
    lines = ["| metric | exact | amortised | amortised - exact (paired) |", "|---|---|---|---|"]
    for metric in (*METRICS, *COUNTS):
        wide = own.pivot_table(index="seed", columns="mode", values=metric)
        lines.append(f"| {metric} | {_cell(wide['exact'])} | {_cell(wide['amortised'])} | "
                     f"{_cell(wide['amortised'] - wide['exact'])} |")  # fmt: skip
    return lines


def figure(contexts: pd.DataFrame, k: int, seeds: int, path: Path) -> None:
    """Per busy context, the pooled protective rate: amortised against exact, per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MODELS), figsize=(10, 4.6), sharey=True)
    for ax, model in zip(axes, MODELS, strict=True):
        own = contexts[contexts.model == model]
        pooled = own.groupby([*FIELDS, "mode"])[["decisions", "valid", "protective"]].sum()
        wide = (pooled.protective / pooled.valid).unstack("mode")
        busy = pooled.decisions.unstack("mode")["exact"] / seeds > k
        wide = wide[busy]
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.scatter(wide["exact"], wide["amortised"], s=18)
        ax.set(title=f"{model} model ({busy.sum()} contexts > K={k} a run)",
               xlabel="exact: protective rate", xlim=(0, 1), ylim=(0, 1))  # fmt: skip
    axes[0].set_ylabel("amortised: protective rate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--agents", type=int, default=AGENTS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=Path("experiments/amortised_accuracy"))
    args = parser.parse_args()
    runs, contexts, load = [], [], os.getloadavg()
    for model in MODELS:
        for seed in range(args.seeds):
            for mode in MODES:
                start = time.perf_counter()
                summary, tally = fleet_run(model, mode, seed, args.agents, args.steps)
                seconds = time.perf_counter() - start
                given = int(tally.played[tally.stage.isin(SHUTDOWNS)].sum())
                runs.append({"model": model, "mode": mode, "seed": seed, "seconds": seconds,
                             **{m: summary[m] for m in (*METRICS, "llm_played",
                                                        "llm_decisions")},
                             "shutdown_tasks": given})  # fmt: skip
                contexts.append(tally.assign(model=model, mode=mode, seed=seed))
                print(f"{model} {mode} seed {seed}: {seconds:.1f} s", flush=True)
    runs_frame, contexts_frame = pd.DataFrame(runs), pd.concat(contexts, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    runs_frame.to_csv(args.out / "runs.csv", index=False)
    contexts_frame.to_csv(args.out / "contexts.csv", index=False)
    seconds = runs_frame.groupby(["model", "mode"]).seconds.describe()
    lines = [f"{args.agents} models x {args.steps} steps, seeds 0-{args.seeds - 1}, K = {K}, "
             "a fresh store per amortised run. Seconds a run, median (min-max), the modes "
             f"interleaved; 1-minute load average {load[0]:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end:\n",
             *(f"- {model} {mode}: {row['50%']:.1f} ({row['min']:.1f}-{row['max']:.1f})"
               for (model, mode), row in seconds.iterrows())]  # fmt: skip
    for model in MODELS:
        lines += [f"\n## {model} model: headline metrics\n", *metric_table(runs_frame, model)]
        lines += [f"\n## {model} model: per context (more than K decisions a run)\n",
                  *context_table(contexts_frame, model, args.seeds, K)]  # fmt: skip
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    figure(contexts_frame, K, args.seeds, args.out / "contexts.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
