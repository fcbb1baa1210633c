"""The printed table, target lines and load warnings of ``bench.py``."""

from __future__ import annotations

from benchmarks.bench_stats import spread

__all__ = ["load_lines", "load_warning", "table", "target_lines"]

#: A measurement started above this 1-minute load average per core is flagged as noisy.
LOAD_PER_CORE = 0.5


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _rate(record: dict) -> str:
    text = _num(record["agent_steps_per_s"], ",.0f")
    lo_hi = record.get("range", {}).get("agent_steps_per_s")
    if lo_hi and record.get("n_repeats", 1) > 1:
        text += f" ({lo_hi[0]:,.0f}-{lo_hi[1]:,.0f})"
    return text


def _ratio(record: dict) -> str:
    if record["ratio_vs_reference"] is None:
        return "-"
    text = f"{record['ratio_vs_reference']:.1f}x"
    lo_hi = record.get("ratio_range")
    if lo_hi and record.get("n_repeats", 1) > 1:
        text += f" ({lo_hi[0]:.1f}-{lo_hi[1]:.1f})"
    return text


def table(records: list[dict]) -> str:
    """One row per (impl, N): medians over the repeats, agent-steps/s and the ratio with
    their min-max in brackets."""
    head = (
        "impl",
        "N",
        "repeats",
        "steps",
        "build s",
        "run s",
        "agent-steps/s (min-max)",
        "peak RSS MB",
        "ratio vs ref (pairs' min-max)",
        "note",
    )
    rows = [head]
    for r in records:
        rows.append(
            (
                r["impl"],
                f"{r['n_agents']:,}",
                str(r.get("n_repeats", 1)),
                _num(r["steps"], "d"),
                _num(r["build_s"], ".2f"),
                _num(r["run_s"], ".2f"),
                _rate(r),
                _num(r["peak_rss_mb"], ",.0f"),
                _ratio(r),
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


def load_warning(load: float | None, cpus: int) -> str | None:
    """The warning for a measurement started at 1-minute load ``load`` on ``cpus`` cores."""
    limit = LOAD_PER_CORE * cpus
    if load is None or load <= limit:
        return None
    return f"warning: 1-minute load average {load:.2f} > {limit:g} ({LOAD_PER_CORE:g} per core)"


def load_lines(loads: list[float | None], cpus: int) -> str:
    """The load over the whole run: median and range at the start of the measurements, and
    how many started above the warning level."""
    known = [x for x in loads if x is not None]
    summary = spread(known)
    if summary is None:
        return "load: not recorded (os.getloadavg unavailable)"
    limit = LOAD_PER_CORE * cpus
    high = sum(x > limit for x in known)
    text = (
        f"load: 1-minute average at the start of {len(known)} measurements: median "
        f"{summary['median']:.2f} (range {summary['min']:.2f}-{summary['max']:.2f}) on {cpus} cores"
    )
    if high:
        text += (
            f"\nwarning: {high} of {len(known)} measurements started above {limit:g} "
            f"({LOAD_PER_CORE:g} per core): other work shared the CPUs; compare ratios "
            "(measured side by side), not absolute times"
        )
    return text
