"""A run's snapshots as an animation: one frame per snapshot step (or every ``stride``-th),
as a GIF written by Pillow or an MP4 written by ffmpeg when it is on PATH.

The figure is made once (:class:`~sim.viz.spread.SpreadFigure`: one layout, one set of
artists); each frame only recolours it and reads its pixels back, so the cost per frame is
one canvas draw.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from sim.core.errors import ConfigError
from sim.viz.spread import SpreadFigure

__all__ = ["FORMATS", "FfmpegMissing", "check_format", "render"]

#: Output formats by file suffix.
FORMATS = {".gif": "gif", ".mp4": "mp4"}
#: Colours of a GIF's one palette, shared by every frame (a palette per frame costs size,
#: and makes colours flicker).
PALETTE = 96


class FfmpegMissing(RuntimeError):
    """An MP4 was asked for without ffmpeg on PATH."""


def check_format(path: str | Path) -> str:
    """The format of an animation file named ``path``: ``gif``, or ``mp4`` when ffmpeg is
    on PATH.

    Raises:
        ConfigError: for another suffix.
        FfmpegMissing: for ``.mp4`` without ffmpeg.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out: must end in .gif or .mp4, got {str(path)!r}")
    if FORMATS[suffix] == "mp4" and shutil.which("ffmpeg") is None:
        raise FfmpegMissing(
            f"--out: {Path(path).name} needs ffmpeg on PATH, which is not there; install it "
            "or write a .gif (Pillow, no ffmpeg needed)"
        )
    return FORMATS[suffix]


def render(
    models: pd.DataFrame,
    trust: pd.DataFrame,
    series: pd.DataFrame,
    out: str | Path | BinaryIO,
    *,
    fmt: str = "gif",
    color: str = "protective",
    fps: float = 8.0,
    stride: int = 1,
    groups=None,
    seed: int = 0,
    size: tuple[float, float] = (8.0, 6.4),
    dpi: int = 80,
) -> int:
    """Render the snapshots ``models`` and ``trust`` (with the run's time series ``series``
    for the timeline) as an animation into ``out`` (a path, or for a GIF a binary file).

    Args:
        fmt: ``gif`` or ``mp4`` (a path only; ffmpeg must be on PATH).
        color: ``protective``, ``propensity`` or ``family``.
        fps: frames per second.
        stride: draw every ``stride``-th snapshot step (and always the last).
        groups, seed: of the layout (see :class:`~sim.viz.spread.SpreadFigure`).
        size, dpi: of each frame.

    Returns:
        The number of frames written.
    """
    if stride < 1 or fps <= 0:
        raise ValueError(f"stride must be >= 1 and fps > 0, got {stride} and {fps}")
    figure = SpreadFigure(
        models, trust, series, color=color, groups=groups, seed=seed, size=size, dpi=dpi
    )
    steps = figure.steps[::stride]
    steps += [] if steps[-1] == figure.steps[-1] else [figure.steps[-1]]
    if fmt == "mp4":
        _mp4(figure, steps, out, fps, dpi)
    else:
        _gif(figure, steps, out, fps)
    return len(steps)


def _gif(figure: SpreadFigure, steps: list[int], out, fps: float) -> None:
    from PIL import Image

    frames = []
    for step in steps:
        figure.show(step)
        frames.append(Image.fromarray(figure.frame()))
    # One palette from the first, middle and last frames, and a band of each key colour as
    # large as a frame (so that median cut keeps it, however few pixels show it).
    sample = [np.asarray(f) for f in (frames[0], frames[len(frames) // 2], frames[-1])]
    keys = figure.key_colours()
    height, width = sample[0].shape[:2]
    band = np.repeat(np.repeat(keys[:, None], width, axis=1), height // len(keys), axis=0)
    strip = Image.fromarray(np.concatenate([*sample, band]))
    palette = strip.quantize(colors=PALETTE, method=Image.Quantize.MEDIANCUT)
    indexed = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    indexed[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=round(1000 / fps),
        loop=0,
        optimize=False,
    )


def _mp4(figure: SpreadFigure, steps: list[int], out, fps: float, dpi: int) -> None:
    from matplotlib.animation import FFMpegWriter

    writer = FFMpegWriter(fps=fps)
    with writer.saving(figure.fig, str(out), dpi=dpi):
        for step in steps:
            figure.show(step)
            writer.grab_frame()
