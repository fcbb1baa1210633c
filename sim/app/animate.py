"""``peersim-animate RUN_DIR [--out spread.gif|spread.mp4] [--color protective|propensity|family]
[--fps F] [--stride N]``: a run's snapshots as an animation, one frame per snapshot step.

A GIF is written by Pillow (no ffmpeg needed), an MP4 by ffmpeg when it is on PATH; the file
is written under a temporary name and renamed into place. The run must have recorded
snapshots (``record.snapshots_every``, on by default up to 1,000 models).

Exit status: 0, or 2 with one line (no snapshots in the folder, not a run folder, an
``--out`` that is not .gif or .mp4, an MP4 without ffmpeg, a bad ``--fps`` or ``--stride``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sim.core.errors import ConfigError
from sim.core.files import write_atomic
from sim.core.text import printable
from sim.io.snapshots import MissingSnapshots, read_spread
from sim.viz.animation import FfmpegMissing, check_format, render
from sim.viz.network import COLOR_BY
from sim.viz.spread import drawing_groups

__all__ = ["animate", "main"]

PROG = "peersim-animate"


def animate(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    color: str = "protective",
    fps: float = 8.0,
    stride: int = 1,
) -> tuple[Path, int]:
    """Render the run folder ``run_dir``'s snapshots into ``out`` (default: its
    ``spread.gif``).

    Returns:
        The file written and its number of frames.

    Raises:
        MissingSnapshots: the folder has no snapshots (the message names
            ``record.snapshots_every``) or is not a run folder.
        FfmpegMissing: an MP4 without ffmpeg on PATH.
        ConfigError: ``out`` is not .gif or .mp4 or not in a folder, ``fps`` <= 0 or
            ``stride`` < 1.
    """
    out = Path(run_dir) / "spread.gif" if out is None else Path(out)
    # Options first, then the folder, all before rendering: a mistake costs nothing.
    fmt = check_format(out)
    if not fps > 0:
        raise ConfigError(f"--fps: must be > 0, got {fps}")
    if stride < 1:
        raise ConfigError(f"--stride: must be >= 1, got {stride}")
    spread = read_spread(run_dir)
    if not out.parent.is_dir():
        raise ConfigError(f"--out: no folder {str(out.parent)!r} to write into, got {str(out)!r}")
    options = {
        "fmt": fmt,
        "color": color,
        "fps": fps,
        "stride": stride,
        "groups": drawing_groups(spread.community, labs=spread.labs),
        "seed": spread.seed,
    }
    frames = spread.models, spread.trust, spread.series
    if fmt == "gif":
        counted = []
        write_atomic(out, lambda handle: counted.append(render(*frames, handle, **options)))
        return out, counted[0]
    # ffmpeg writes to a name, which must end in .mp4: a temporary one, renamed into place.
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        count = render(*frames, partial, **options)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out, count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Animate a run's snapshots: one frame per snapshot step."
    )
    parser.add_argument("run_dir", type=Path, help="the run folder (with snapshots.parquet)")
    parser.add_argument(
        "--out", type=Path, default=None, help="a .gif or .mp4 file (default: RUN_DIR/spread.gif)"
    )
    parser.add_argument("--color", choices=COLOR_BY, default="protective", help="node colour")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second (8)")
    parser.add_argument(
        "--stride", type=int, default=1, help="draw every N-th snapshot (1: every one)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``peersim-animate``."""
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        out, frames = animate(
            args.run_dir, args.out, color=args.color, fps=args.fps, stride=args.stride
        )
    except (MissingSnapshots, FfmpegMissing, ConfigError) as error:
        print(printable(f"{PROG}: {error}"), file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(f"wrote {out} ({frames} frames, {out.stat().st_size:,} bytes, {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
