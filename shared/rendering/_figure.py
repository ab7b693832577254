"""Matplotlib figures without pyplot: thread-safe, no global state, byte-for-byte reproducible.

Every rendering builds a :class:`matplotlib.figure.Figure` on its own Agg canvas, so no figure
is registered in pyplot's global manager (nothing leaks, threads do not share state). The Agg
buffer is encoded by Pillow without any text chunk (no software version, no timestamp), so the
same input always gives the same bytes (their SHA-256 goes into the archive).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
WIDTH_PX = 760
FONT_SIZE = 9


def new_figure(width_px: int, height_px: int) -> Figure:
    """A white figure of exactly ``width_px`` x ``height_px`` pixels on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode a ``uint8 [H, W, 3]`` array as an RGB PNG with no metadata chunks."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_png(figure: Figure) -> bytes:
    """Draw ``figure`` with Agg and encode it as an RGB PNG at its own pixel size."""
    figure.canvas.draw()
    return png_bytes(np.asarray(figure.canvas.buffer_rgba())[..., :3])  # type: ignore[attr-defined]


def row_figure(
    labels: list[str], *, plot_px: int, bottom_px: int, top_px: int, right_px: int
) -> tuple[Figure, Axes]:
    """A ``WIDTH_PX``-wide figure with one axes whose rows ``y = n-1, …, 0`` carry ``labels``.

    Row labels are plain texts rather than y ticks (matplotlib's Tick objects dominate the time
    of these small figures); measuring them fills the text-layout cache that drawing reuses,
    and the left margin is sized to the widest label. Only the bottom spine is kept.
    """
    from matplotlib.transforms import offset_copy

    height = bottom_px + plot_px + top_px
    figure = new_figure(WIDTH_PX, height)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_yticks([])
    transform = offset_copy(axes.get_yaxis_transform(), fig=figure, x=-6, units="dots")
    texts = [
        axes.text(0, y, label, transform=transform, ha="right", va="center", fontsize=FONT_SIZE)
        for y, label in zip(range(len(labels) - 1, -1, -1), labels, strict=True)
    ]
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    left = 14 + max(text.get_window_extent(renderer).width for text in texts)
    axes.set_position(
        (
            left / WIDTH_PX,
            bottom_px / height,
            (WIDTH_PX - left - right_px) / WIDTH_PX,
            plot_px / height,
        )
    )
    axes.tick_params(axis="x", labelsize=FONT_SIZE - 1)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    return figure, axes
