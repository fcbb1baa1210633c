"""``peersim-collect --table`` and ``--paired``: the analysis of the collected sweep
(:mod:`sim.analysis`) printed as aligned text or CSV."""

from __future__ import annotations

import argparse

from sim.analysis import METHODS, T_INTERVAL, Sweep, paired_differences, summary_table
from sim.analysis.render import to_text
from sim.core.text import printable
from sim.io.collect import Collected

__all__ = ["add_arguments", "asked", "render"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The table options of ``peersim-collect``."""
    group = parser.add_argument_group("tables (printed on stdout; the run counts go to stderr)")
    group.add_argument("--table", action="store_true",
                       help="print mean, sd, n and 95%% CI of each summary metric per "
                       "setting")  # fmt: skip
    group.add_argument("--paired", action="store_true",
                       help="print each design minus the first, on runs with the same seed and "
                       "replicate")  # fmt: skip
    group.add_argument("--metrics", type=_names, default=None, metavar="A,B",
                       help="only these summary metrics (default: all numeric ones)")  # fmt: skip
    group.add_argument("--by", type=_names, default=None, metavar="KEY[,KEY]",
                       help="settings (designs, for --paired) by these parameters (default: "
                       "those the sweep varied, but seed and replicate)")  # fmt: skip
    group.add_argument("--ci", choices=METHODS, default=T_INTERVAL,
                       help="t: t interval on the mean (default); bootstrap: percentile "
                       "bootstrap, 10000 resamples, seed 0")  # fmt: skip
    group.add_argument("--csv", action="store_true", help="print CSV instead of aligned text")


def asked(args: argparse.Namespace, parser: argparse.ArgumentParser) -> bool:
    """Whether a table is asked for; table options without one are a usage error (exit 2)."""
    if args.table or args.paired:
        return True
    given = [flag for flag, value in (("--metrics", args.metrics), ("--by", args.by),
             ("--csv", args.csv), ("--ci", args.ci != T_INTERVAL)) if value]  # fmt: skip
    if given:
        parser.error(f"{given[0]} needs --table or --paired")
    return False


def render(args: argparse.Namespace, collected: Collected) -> str:
    """The tables asked for, as text (terminal-safe) or CSV.

    Raises:
        AnalysisError: an unknown metric or parameter, or runs that cannot be paired.
    """
    sweep = Sweep.from_collected(collected)
    tables = []
    if args.table:
        tables.append(summary_table(sweep, args.metrics, args.by, method=args.ci))
    if args.paired:
        tables.append(paired_differences(sweep, args.metrics, args.by, method=args.ci))
    shown = [table.to_csv(index=False) if args.csv else to_text(table) + "\n" for table in tables]
    return printable("\n".join(shown))


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected one or more names separated by commas")
    return names
