"""Frames of a figure in which only some artists change between frames (blitting): the rest
is drawn once and its pixels kept; each frame restores them and draws the changing artists
on top, a third of the cost of a full draw. Used by the animation and the dashboard."""

from __future__ import annotations

import io

import numpy as np

__all__ = ["Blitter", "png"]


class Blitter:
    """Draws ``figure`` once without ``moving`` (artists that change), then each
    :meth:`frame` as those pixels with ``moving`` drawn over them, in z-order.

    The moving artists are marked animated, so a full draw of the figure (``savefig``)
    leaves them out: take a figure's pictures from one or the other, not both.
    """

    def __init__(self, figure, moving):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        if not isinstance(figure.canvas, FigureCanvasAgg):
            FigureCanvasAgg(figure)  # a bare Figure has no pixels of its own
        self.figure = figure
        self.moving = sorted(moving, key=lambda artist: artist.get_zorder())
        self._background = None

    def frame(self) -> np.ndarray:
        """The current frame as RGB pixels (height, width, 3)."""
        canvas = self.figure.canvas
        if self._background is None:
            for artist in self.moving:
                artist.set_animated(True)  # left out of the full draw
            canvas.draw()
            self._background = canvas.copy_from_bbox(self.figure.bbox)
        canvas.restore_region(self._background)
        for artist in self.moving:
            self.figure.draw_artist(artist)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def png(pixels: np.ndarray) -> bytes:
    """RGB pixels as PNG bytes, compressed lightly (a frame is shown once, then replaced)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="png", compress_level=1)
    return out.getvalue()
