"""Paired differences between designs on common seeds: runs of two designs with the same
``seed`` and ``replicate`` start from the same fleet and graph, so their difference removes
the run-to-run noise the designs share (common random numbers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from sim.analysis.intervals import LEVEL, RESAMPLES, T_INTERVAL, generator, interval
from sim.analysis.sweep import REPLICATE_KEYS, AnalysisError, Sweep, split
from sim.core.text import setting_label

__all__ = ["PAIRED_STATISTICS", "paired_differences"]

#: The columns given per comparison and metric.
PAIRED_STATISTICS = ["n_pairs", "n_nan", "n_unpaired", "mean_diff", "sd", "ci_low", "ci_high"]


def paired_differences(
    sweep: Sweep,
    metrics: Sequence[str] | None = None,
    by: Sequence[str] | None = None,
    *,
    baseline: Mapping[str, object] | None = None,
    method: str = T_INTERVAL,
    level: float = LEVEL,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """Each design minus the baseline design, on runs matched by seed and replicate.

    A design is a setting of ``by`` (default: every parameter the sweep varied, other than
    seed and replicate); the other varied parameters, if any, split the comparison into strata,
    each compared within itself. The baseline is the design matching ``baseline`` (a mapping
    of design keys to values), or else the first in sorted order. Per stratum, design and
    metric: ``n_pairs`` pairs used, ``n_nan`` pairs left out because either value is NaN,
    ``n_unpaired`` runs of either design without a partner, and the mean difference with its
    ``level`` interval (the t interval, or the percentile bootstrap; see
    :func:`sim.analysis.summary.summary_table`). Column ``baseline`` names the baseline.

    Raises:
        AnalysisError: an unknown metric or parameter; runs that cannot be paired (seed or
            replicate as a design key, runs without a seed of their own, two runs of a design
            with the same seed and replicate, two designs with no seed in common, fewer than
            two designs); an unknown baseline.
    """
    design = sweep.keys(by)
    metrics = sweep.check_metrics(metrics)
    pairs_on = [key for key in REPLICATE_KEYS if key in sweep.parameters]
    _check_pairable(sweep.runs, design, pairs_on)
    strata = [key for key in sweep.varied if key not in design]
    comparisons = []
    for stratum, rows in split(sweep.runs, strata):
        runs = sweep.runs.iloc[rows]
        designs = [(values, runs.iloc[at]) for values, at in split(runs, design)]
        where = f" in {setting_label(strata, stratum)}" if strata else ""
        if len(designs) < 2:
            raise AnalysisError(
                f"runs cannot be paired: only one design ({setting_label(design, designs[0][0])})"
                f"{where}; vary {', '.join(design)}"
            )
        for values, runs_of in designs:
            _check_unique(runs_of, pairs_on, setting_label(design, values) + where)
        chosen = _baseline(designs, design, baseline, where)
        base_values, base = designs[chosen]
        base_label = setting_label(design, base_values)
        for index, (values, runs_of) in enumerate(designs):
            if index == chosen:
                continue
            matched = _match(base, runs_of, pairs_on, metrics)
            if matched.empty:
                raise AnalysisError(
                    f"runs cannot be paired: {setting_label(design, values)} and {base_label}"
                    f"{where} have no {' and '.join(pairs_on)} in common"
                )
            unpaired = len(base) + len(runs_of) - 2 * len(matched)
            comparisons.append((stratum, values, base_label, matched, unpaired))
    rows = []
    for metric in metrics:
        for stratum, values, base_label, matched, unpaired in comparisons:
            labels = (setting_label(strata, stratum), setting_label(design, values), base_label)
            rng = None if method == T_INTERVAL else generator(seed, metric, *labels)
            difference = matched[f"{metric}.design"] - matched[f"{metric}.baseline"]
            found = interval(difference.to_numpy(), method=method, level=level, rng=rng,
                             resamples=resamples)  # fmt: skip
            rows.append([*stratum, *values, base_label, metric, found.n, found.n_nan, unpaired,
                         found.mean, found.sd, found.low, found.high])  # fmt: skip
    table = pd.DataFrame(rows, columns=[*strata, *design, "baseline", "metric", *PAIRED_STATISTICS])
    table.attrs.update(method=method, level=level, seed=seed, resamples=resamples)
    return table


def _check_pairable(runs: pd.DataFrame, design: list[str], pairs_on: list[str]) -> None:
    if not design:
        raise AnalysisError(
            "runs cannot be paired: the sweep varies nothing but seed and replicate, so there "
            "are no designs to compare"
        )
    clash = [key for key in design if key in REPLICATE_KEYS]
    if clash:
        raise AnalysisError(f"runs cannot be paired: {clash[0]} pairs the runs, so it cannot "
                            "also be a design key")  # fmt: skip
    for key in pairs_on:
        unset = int(runs[key].isna().sum())
        if unset:
            raise AnalysisError(
                f"runs cannot be paired: {unset} of {len(runs)} runs do not set {key} (null), "
                f"so which runs share one is unknown; give every run its {key}"
            )


def _baseline(designs, keys, baseline, where) -> int:
    """The index of the baseline design: the one matching ``baseline`` (None matches an unset
    parameter), else the first."""
    if baseline is None:
        return 0
    unknown = [key for key in baseline if key not in keys]
    if unknown:
        raise AnalysisError(f"baseline key {unknown[0]!r} is not a design key ({', '.join(keys)})")
    for index, (values, _) in enumerate(designs):
        found = dict(zip(keys, values, strict=True))
        if all(_same(found[key], value) for key, value in baseline.items()):
            return index
    shown = "; ".join(setting_label(keys, values) for values, _ in designs)
    raise AnalysisError(f"no design {setting_label(list(baseline), list(baseline.values()))}"
                        f"{where} (designs: {shown})")  # fmt: skip


def _same(found: object, wanted: object) -> bool:
    return bool(pd.isna(found)) if wanted is None else bool(found == wanted)


def _check_unique(runs: pd.DataFrame, pairs_on: list[str], design: str) -> None:
    """Refuse two runs of one design that would pair with the same partner."""
    if pairs_on:
        repeated = runs.duplicated(pairs_on, keep=False)
        if repeated.any():
            shown = setting_label(pairs_on, runs.loc[repeated.idxmax(), pairs_on])
            raise AnalysisError(f"runs cannot be paired: {int(repeated.sum())} runs of {design} "
                                f"have {shown}")  # fmt: skip
    elif len(runs) > 1:
        raise AnalysisError(f"runs cannot be paired: {len(runs)} runs of {design} and no seed "
                            "or replicate to tell them apart")  # fmt: skip


def _match(base: pd.DataFrame, other: pd.DataFrame, pairs_on: list[str], metrics: list[str]):
    """One row per pair of runs with the same ``pairs_on`` values: ``<metric>.baseline`` and
    ``<metric>.design`` as floats. Without pair keys, each design has one run: one pair."""
    columns = [*pairs_on, *metrics]
    left = base[columns].astype({m: "float64" for m in metrics})
    right = other[columns].astype({m: "float64" for m in metrics})
    how = {"on": pairs_on} if pairs_on else {"how": "cross"}
    return left.merge(right, suffixes=(".baseline", ".design"), **how)
