"""Records to targets and the printed table, for ``bench.py``.

Pure functions of the records (no timing), so tests can check them on made-up numbers.
"""

from __future__ import annotations

import math

GIB_MB = 1024.0
RATIO_TARGET = 50.0
SPREAD_TARGET = 20.0
LARGE_N, LARGE_STEPS, LARGE_S, LARGE_RSS_GIB = 1_000_000, 100, 60.0, 3.0
BUILD_N, BUILD_S = 100_000, 5.0
IMPORT_S = 1.0
HEAVY = ("litellm", "solara", "matplotlib")
FINAL_SIZE_TOL = 0.02  # absolute; two 1M-node SIR runs differ by ~0.001
EXPONENT_SIZES, EXPONENT_TOL = (10_000, 100_000), 0.2


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


def add_ratios(records: list[dict]) -> None:
    """Engine agent-steps/s over the reference's at the same N (on the engine's records)."""
    ref = {
        r["n_agents"]: r["agent_steps_per_s"]
        for r in records
        if r["impl"] == "reference" and r["status"] == "ok" and r["agent_steps_per_s"]
    }
    for r in records:
        if r["impl"] == "engine" and r["agent_steps_per_s"] and r["n_agents"] in ref:
            r["ratio_vs_reference"] = r["agent_steps_per_s"] / ref[r["n_agents"]]


def find(records: list[dict], impl: str, n: int | None = None) -> dict | None:
    for r in records:
        if r["impl"] == impl and (n is None or r["n_agents"] == n):
            return r
    return None


def _target(name, target, value, passed, display=None, detail="") -> dict:
    status = "SKIP" if passed is None else ("PASS" if passed else "FAIL")
    if display is None:
        display = "-" if value is None else f"{value:.3g}"
    return {
        "name": name,
        "target": target,
        "value": value,
        "display": display,
        "status": status,
        "detail": detail,
    }


def _why_missing(record: dict | None, what: str) -> str:
    if record is None:
        return f"not run: {what}"
    return f"{what}: {record['status']} {record.get('note', '')}".strip()


def _why_not(a: dict | None, what_a: str, b: dict | None, what_b: str) -> str:
    """Why a comparison of two records has no value: the first one missing or not ok."""
    if a is None or a["status"] != "ok":
        return _why_missing(a, what_a)
    return _why_missing(b, what_b)


def targets(records: list[dict], checks: dict) -> list[dict]:
    """The performance targets, each with its measured value and PASS / FAIL / SKIP."""
    out = []
    for n in (10_000, 100_000):
        eng, ref = find(records, "engine", n), find(records, "reference", n)
        ratio = eng and eng["ratio_vs_reference"]
        why = _why_not(eng, f"engine at N={n:,}", ref, f"reference at N={n:,}")
        out.append(
            _target(
                f"engine / reference agent-steps/s at N={n:,}",
                f">= {RATIO_TARGET:g}x",
                ratio,
                None if ratio is None else ratio >= RATIO_TARGET,
                None if ratio is None else f"{ratio:.1f}x",
                "" if ratio is not None else why,
            )
        )
    big = find(records, "engine", LARGE_N)
    total = rss = None
    detail = _why_missing(big, "engine at N=1,000,000")
    if big and big["status"] in ("ok", "timeout") and big["steps_requested"] == LARGE_STEPS:
        if big["status"] == "timeout":
            total, detail = big["timeout_s"], f"timed out after {big['timeout_s']:g} s"
        elif big["build_s"] is not None and big["run_s"] is not None:
            total, detail = big["build_s"] + big["run_s"], ""
        rss = big["peak_rss_mb"]
    elif big:
        detail = f"not the target run ({big['steps_requested']} steps, status {big['status']})"
    timed_out = bool(big) and big["status"] == "timeout"
    out.append(
        _target(
            f"N=1,000,000: build + {LARGE_STEPS} steps",
            f"<= {LARGE_S:g} s",
            total,
            None if total is None else (not timed_out and total <= LARGE_S),
            None if total is None else (f"> {total:.0f} s" if timed_out else f"{total:.1f} s"),
            detail,
        )
    )
    out.append(
        _target(
            "N=1,000,000: peak RSS",
            f"<= {LARGE_RSS_GIB:g} GiB",
            rss,
            None if rss is None or timed_out else rss <= LARGE_RSS_GIB * GIB_MB,
            None if rss is None else f"{rss / GIB_MB:.2f} GiB" + (" (so far)" if timed_out else ""),
            detail,
        )
    )
    eng, eon = find(records, "engine-spread"), find(records, "eon-sir")
    ratio = eng and eng["ratio_vs_reference"]
    why = _why_not(eng, "engine spread", eon, "EoN")
    out.append(
        _target(
            "spread step vs EoN basic_discrete_SIR (time per step)",
            f">= {SPREAD_TARGET:g}x",
            ratio,
            None if ratio is None else ratio >= SPREAD_TARGET,
            None if ratio is None else f"{ratio:.1f}x",
            "" if ratio is not None else why,
        )
    )
    diff = None
    if eng and eon and eng.get("final_size") is not None and eon.get("final_size") is not None:
        diff = abs(eng["final_size"] - eon["final_size"])
    out.append(
        _target(
            "spread final sizes agree (sanity)",
            f"|engine - EoN| <= {FINAL_SIZE_TOL:g}",
            diff,
            None if diff is None else diff <= FINAL_SIZE_TOL,
            None
            if diff is None
            else f"{eng['final_size']:.4f} vs {eon['final_size']:.4f} "
            f"(theory {eng.get('theory_final_size', float('nan')):.4f})",
            "" if diff is not None else why,
        )
    )
    eng = find(records, "engine", BUILD_N)
    build = eng["build_s"] if eng and eng["status"] == "ok" else None
    out.append(
        _target(
            f"build a {BUILD_N:,}-agent fleet (Ecosystem constructor)",
            f"< {BUILD_S:g} s",
            build,
            None if build is None else build < BUILD_S,
            None if build is None else f"{build:.2f} s",
            "" if build is not None else _why_missing(eng, f"engine at N={BUILD_N:,}"),
        )
    )
    imp = checks.get("import")
    value = imp.get("import_s") if imp else None
    heavy = imp.get("heavy_modules") if imp else None
    out.append(
        _target(
            "import sim (fresh process), no " + "/".join(HEAVY),
            f"<= {IMPORT_S:g} s, none loaded",
            value,
            None if value is None else value <= IMPORT_S and not heavy,
            None if value is None else f"{value:.3f} s, loaded: {', '.join(heavy) or 'none'}",
            "" if value is not None else (imp or {}).get("note", "not run: import check"),
        )
    )
    out.append(exponent_target(records))
    return out


def exponent_target(records: list[dict]) -> dict:
    """Fitted b of run time per step ~ N^b for the engine between the two exponent sizes."""
    lo, hi = (find(records, "engine", n) for n in EXPONENT_SIZES)
    b = None
    if lo and hi and lo["steps_per_s"] and hi["steps_per_s"]:
        growth = math.log(hi["n_agents"] / lo["n_agents"])
        b = math.log(lo["steps_per_s"] / hi["steps_per_s"]) / growth
    return _target(
        f"cost exponent b, run time ~ N^b (engine, N={EXPONENT_SIZES[0]:,} to "
        f"{EXPONENT_SIZES[1]:,})",
        f"~1 (|b - 1| <= {EXPONENT_TOL:g})",
        b,
        None if b is None else abs(b - 1) <= EXPONENT_TOL,
        None if b is None else f"{b:.2f}",
        "" if b is not None else "needs engine runs at both sizes",
    )


# ----------------------------------------------------------------------------- printing
def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(records: list[dict]) -> str:
    head = (
        "impl",
        "N",
        "steps",
        "build s",
        "run s",
        "steps/s",
        "agent-steps/s",
        "peak RSS MB",
        "ratio vs ref",
        "note",
    )
    rows = [head]
    for r in records:
        rows.append(
            (
                r["impl"],
                f"{r['n_agents']:,}",
                _num(r["steps"], "d"),
                _num(r["build_s"], ".2f"),
                _num(r["run_s"], ".2f"),
                _num(r["steps_per_s"], ",.1f"),
                _num(r["agent_steps_per_s"], ",.0f"),
                _num(r["peak_rss_mb"], ",.0f"),
                "-" if r["ratio_vs_reference"] is None else f"{r['ratio_vs_reference']:.1f}x",
                ("" if r["status"] == "ok" else r["status"].upper() + " ") + r.get("note", ""),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for k, row in enumerate(rows):
        right = zip(row[1:-1], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in right]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def target_lines(items: list[dict]) -> str:
    width = max(len(t["name"]) for t in items)
    lines = []
    for t in items:
        extra = f"  ({t['detail']})" if t["detail"] else ""
        lines.append(
            f"  {t['status']:4}  {t['name'].ljust(width)}  {t['display']}  [{t['target']}]{extra}"
        )
    return "\n".join(lines)
