"""``peersim-dashboard [--replay RUN_DIR] [--host 127.0.0.1] [--port N]``: serve the dashboard
with solara's server (``solara run sim.app.dashboard.page:Page``), on this machine only
unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sim.io.snapshots import MissingSnapshots, read_spread

__all__ = ["REPLAY_ENV", "check_replay", "command", "main"]

#: The run folder the page replays (the page reads it; solara passes no arguments).
REPLAY_ENV = "PEERSIM_DASHBOARD_REPLAY"

#: What solara serves: the page component of :mod:`sim.app.dashboard.page`.
TARGET = "sim.app.dashboard.page:Page"


def command(host: str, port: int) -> list[str]:
    """The solara server's command line (production mode: no reloader, no file watching)."""
    return [sys.executable, "-m", "solara", "run", TARGET, "--host", host, "--port", str(port),
            "--production", "--no-open", "--log-level", "warning"]  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peersim-dashboard", description="Serve the peer-preservation dashboard."
    )
    parser.add_argument("--replay", metavar="RUN_DIR", help="replay a finished run's snapshots")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    return parser


def check_replay(run_dir: str) -> str:
    """The absolute run folder to replay, checked to be a finished run with snapshots.

    Raises:
        MissingSnapshots: one line naming ``record.snapshots_every`` when it has none.
    """
    read_spread(run_dir)
    return str(Path(run_dir).resolve())


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server in place of this process; return 2 for a bad argument (before)."""
    args = _parser().parse_args(argv)
    env = dict(os.environ)
    env.pop(REPLAY_ENV, None)
    if args.replay is not None:
        try:
            env[REPLAY_ENV] = check_replay(args.replay)
        except MissingSnapshots as exc:
            print(f"peersim-dashboard: {exc}", file=sys.stderr)
            return 2
    print(f"peersim-dashboard: serving on http://{args.host}:{args.port}", file=sys.stderr)
    sys.stderr.flush()
    # The server replaces this process, so stopping this process's id stops the server.
    argv = command(args.host, args.port)
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    sys.exit(main())
