"""Repeated measurements to one record per (implementation, N): medians, ranges, ratios.

Pure functions of the records (no timing), so tests can check them on made-up numbers. A
*repeat* is the record of one fresh process (``bench.py``'s ``model_record``); the bench
runs the implementations round-robin (engine, reference, virus, engine, ...), so the k-th
repeats of two implementations ran next to each other in time, under about the same load.
"""

from __future__ import annotations

from statistics import median

__all__ = ["aggregate", "add_ratios", "empty_record", "fill_rates", "find", "spread"]

#: Fields of a repeat summarised by their median in the aggregate record.
MEDIAN_FIELDS = ("build_s", "run_s", "steps_per_s", "agent_steps_per_s", "time_per_step_s")
#: The ratio's range: how it is computed, printed with it.
RANGE_KIND = "min-max of same-round pairs"


def empty_record(impl: str, n: int, **extra) -> dict:
    """A record with every field of the schema, unmeasured."""
    return {
        "impl": impl,
        "n_agents": n,
        "steps": None,
        "build_s": None,
        "run_s": None,
        "steps_per_s": None,
        "agent_steps_per_s": None,
        "peak_rss_mb": None,
        "ratio_vs_reference": None,
        "status": "ok",
        "note": "",
        **extra,
    }


def fill_rates(record: dict) -> dict:
    """steps/s and agent-steps/s from steps and run_s (None when not measured)."""
    steps, run_s = record.get("steps"), record.get("run_s")
    if steps and run_s:
        record["steps_per_s"] = steps / run_s
        record["agent_steps_per_s"] = steps * record["n_agents"] / run_s
    return record


def spread(values: list[float]) -> dict | None:
    """Median, min and max of ``values`` (None when there are none)."""
    if not values:
        return None
    return {"median": median(values), "min": min(values), "max": max(values), "n": len(values)}


def aggregate(repeats: list[dict]) -> list[dict]:
    """One record per (impl, N), in the order first measured: the median of each timing
    over the repeats that ran (status ok), their min-max under ``range``, the largest peak
    RSS, and every repeat kept under ``repeats``. With no repeat ok, the record is the
    first repeat's (its status and note say why)."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in repeats:
        groups.setdefault((record["impl"], record["n_agents"]), []).append(record)
    out = []
    for group in groups.values():
        good = [r for r in group if r["status"] == "ok"]
        record = dict(good[0] if good else group[0])
        record.pop("repeat", None)
        record.pop("load_1min", None)
        record["repeats"] = group
        record["load_1min"] = [r.get("load_1min") for r in group]
        record["range"] = {}
        if good:
            for key in MEDIAN_FIELDS:
                values = [r[key] for r in good if r.get(key) is not None]
                if values:
                    summary = spread(values)
                    record[key] = summary["median"]
                    record["range"][key] = [summary["min"], summary["max"]]
            record["steps"] = min(r["steps"] for r in good)
            rss = [r["peak_rss_mb"] for r in good if r.get("peak_rss_mb") is not None]
            record["peak_rss_mb"] = max(rss) if rss else None
            failed = len(group) - len(good)
            if failed:
                bad = next(r for r in group if r["status"] != "ok")
                record["note"] = (
                    f"{failed} of {len(group)} repeats {bad['status']}: {bad.get('note', '')}"
                ).strip()
        record["n_repeats"] = len(good)
        out.append(record)
    return out


def find(records: list[dict], impl: str, n: int | None = None) -> dict | None:
    for r in records:
        if r["impl"] == impl and (n is None or r["n_agents"] == n):
            return r
    return None


def _pair_ratios(num: dict, den: dict, key: str, invert: bool) -> list[float]:
    """The ratio of ``key`` between repeats of the same round (same repeat index)."""
    by_round = {r.get("repeat"): r for r in den.get("repeats", [den]) if r["status"] == "ok"}
    ratios = []
    for r in num.get("repeats", [num]):
        other = by_round.get(r.get("repeat"))
        if r["status"] != "ok" or other is None or not r.get(key) or not other.get(key):
            continue
        ratios.append(other[key] / r[key] if invert else r[key] / other[key])
    return ratios


def _set_ratio(num: dict, den: dict, key: str, invert: bool) -> None:
    if not num.get(key) or not den.get(key) or den["status"] != "ok":
        return
    num["ratio_vs_reference"] = den[key] / num[key] if invert else num[key] / den[key]
    pairs = _pair_ratios(num, den, key, invert)
    num["ratio_range"] = [min(pairs), max(pairs)] if pairs else None
    num["ratio_range_kind"] = RANGE_KIND
    num["reference_impl"] = den["impl"]


def add_ratios(records: list[dict]) -> None:
    """On engine records, the ratio of median agent-steps/s to the reference's at the same N;
    on ``engine-spread``, EoN's median time per step over the engine's. Each with its range
    over the same-round pairs of repeats (``ratio_range``)."""
    for r in records:
        if r["impl"] == "engine":
            ref = find(records, "reference", r["n_agents"])
            if ref is not None:
                _set_ratio(r, ref, "agent_steps_per_s", invert=False)
        elif r["impl"] == "engine-spread":
            eon = find(records, "eon-sir", r["n_agents"])
            if eon is not None:
                _set_ratio(r, eon, "time_per_step_s", invert=True)
