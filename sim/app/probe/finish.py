"""After the trials: estimates, the nearest shipped family, the profile, the files, and the
lines printed."""

from __future__ import annotations

import sys
from pathlib import Path

from sim.app.probe.estimates import differences, estimates, nearest_family
from sim.app.probe.output import TRANSCRIPTS, TRIALS, report_text, write_probe, write_trials
from sim.app.probe.profile import ProbedProfile, profile_rows
from sim.app.probe.repeatability import persistence, section, verdict
from sim.engines.llm.classify import FAILURES
from sim.engines.llm.probe import Trial
from sim.engines.llm.sandbox import slug
from sim.engines.profiles import available_profiles, load_profile

__all__ = ["finish", "spent"]


def spent(usage: dict) -> dict:
    """Calls made to the model (a call the budget refused was not made), cache hits, tokens
    and cost, from the model stack's ``usage()``."""
    meter = usage.get("metered", {})
    refused = meter.get("errors_by_kind", {}).get("budget_exceeded", 0)
    return {
        "calls": meter.get("calls", 0) - refused,
        "cache hits": usage.get("cache", {}).get("hits", 0),
        "prompt tokens": meter.get("prompt_tokens", 0),
        "completion tokens": meter.get("completion_tokens", 0),
        "cost (USD)": round(meter.get("cost", 0.0), 6),
    }


def finish(app, trials: list[Trial], usage: dict, seconds: float, date: str) -> int:
    """Estimate, write ``probe.out``, print a summary; 1 when no cell was measured (then only
    the trials and transcripts are written), else 0."""
    cfg, model = app.probe, app.llm.model
    folder = Path(cfg.out)
    found = estimates(trials)
    shipped = [load_profile(path) for path in available_profiles().values()]
    nearest = nearest_family(found, shipped, cfg.min_valid)
    failures = sum(sum(e.failures.values()) for e in found.values())
    repeated = persistence(trials, found, cfg.seed)
    facts = {
        "model": model,
        "date": date,
        "trials per cell": cfg.trials,
        "replayed trials per cell": cfg.repeats,
        "cells probed": len(found),
        "seed": cfg.seed,
        "probe.min_valid": cfg.min_valid,
        **spent(usage),
        "wall time (s)": round(seconds, 1),
        "failed trials (any class)": failures,
    }
    if nearest is None:
        write_trials(folder, trials)
        print(f"No cell had probe.min_valid={cfg.min_valid} valid trials ({failures} of "
              f"{len(trials)} trials failed: see {folder / TRIALS} and {folder / TRANSCRIPTS}); "
              "no profile written.", file=sys.stderr)  # fmt: skip
        return 1
    family = cfg.family or slug(model.rsplit("/", 1)[-1])
    rows = profile_rows(found, cfg.min_valid, model, date, nearest[0])
    probed = ProbedProfile(family, model, rows, *nearest)
    faking, above = differences(found)
    header = [
        f"probed by peersim-probe on {date}: {cfg.trials} trials per cell, seed {cfg.seed}, "
        f"probe.min_valid {cfg.min_valid}, {len(found)} cells probed",
        f"fallback family: {nearest[0].family} (nearest: mean absolute difference "
        f"{nearest[1]:.4f} over {nearest[2]} measured cells)",
    ]
    report = report_text(found, probed, faking, above, facts, section(repeated, cfg.repeats))
    write_probe(folder, trials, found, probed, report, header)
    measured = sum(not r.provenance.startswith("assumed:") for r in rows)
    lines = [f"  {key:<27} {value}" for key, value in facts.items()]
    lines += [
        f"  {'cells measured':<27} {measured} of {len(rows)} (the rest: fallback rules)",
        f"  {'failures by class':<27} "
        + (", ".join(f"{c} {n}" for c in FAILURES if (n := _count(found, c))) or "none"),
        f"  {'nearest shipped family':<27} {nearest[0].family}",
        f"  {'persistence (kappa)':<27} {repeated.kappa:.3f} [{repeated.low:.3f}, "
        f"{repeated.high:.3f}] over {repeated.pairs} replayed pairs: {verdict(repeated)}",
        f"  {'profile':<27} {folder / (family + '.csv')}",
        f"  {'output folder':<27} {folder}",
    ]
    print("\n".join(lines))
    return 0


def _count(found: dict, failure: str) -> int:
    return sum(e.failures.get(failure, 0) for e in found.values())
