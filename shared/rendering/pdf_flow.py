"""Text, labelled fields and images flowed down A4 pages of a PDF, with matplotlib only.

Each page is a :class:`matplotlib.figure.Figure` written to ``PdfPages`` (no pyplot, nothing
global, threads do not share state). Text is real PDF text in the DejaVu fonts shipped with
matplotlib, so it can be searched and extracted; lines are wrapped to their measured width, and
words longer than a line (hashes) are broken. Apart from ``created`` no time, and no software
version, is written, so the same content gives the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from datetime import datetime
from itertools import zip_longest
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

A4_IN = (210 / 25.4, 297 / 25.4)
MARGIN_IN = 0.7
FOOTER_IN = 0.35
LABEL_IN = 1.5
FIELD_PT = 8.0
LEADING = 1.3
SANS, MONO = "DejaVu Sans", "DejaVu Sans Mono"
TEXT, MUTED = "#111111", "#555555"
IMAGE_DPI = 100  # renderings are drawn at 100 dpi (shared.rendering._figure)


def text_font(size: float, *, mono: bool = False, bold: bool = False) -> FontProperties:
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=MONO if mono else SANS, size=size, weight="bold" if bold else 400)


def text_width(text: str, font: FontProperties) -> float:
    from matplotlib.textpath import text_to_path

    return float(text_to_path.get_text_width_height_descent(text, font, ismath=False)[0])


def wrap(text: str, width_pt: float, font: FontProperties) -> list[str]:
    """``text`` as lines no wider than ``width_pt``; its own line breaks are kept."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        chars = max(1, int(width_pt / (font.get_size_in_points() * 0.5)))
        while True:
            wrapped = textwrap.wrap(paragraph, chars, break_on_hyphens=False) or [""]
            if chars == 1 or all(text_width(line, font) <= width_pt for line in wrapped):
                break
            chars = max(1, chars - 1 - chars // 25)
        lines += wrapped
    return lines


class Flow:
    """The cursor on the current page; a block that does not fit starts a new page."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self._pdf = pdf
        self._footer = footer
        self._pages = 0
        self._figure: Figure | None = None
        self._y = 0.0  # inches from the bottom of the page

    @property
    def width_in(self) -> float:
        return A4_IN[0] - 2 * MARGIN_IN

    def heading(self, text: str, *, size: float = 12.0) -> None:
        """A bold heading, kept on one page with the start of what follows it."""
        self.space(0.12 * size / 12)
        self._lines(text, text_font(size, bold=True), keep_in=0.6)

    def paragraph(
        self, text: str, *, size: float = 9.0, mono: bool = False, muted: bool = False
    ) -> None:
        self._lines(text, text_font(size, mono=mono), colour=MUTED if muted else TEXT)

    def field(self, label: str, value: str, *, mono: bool = False) -> None:
        """``label`` in a narrow column, ``value`` wrapped beside it (over pages if need be)."""
        label_font, value_font = text_font(FIELD_PT, bold=True), text_font(FIELD_PT, mono=mono)
        labels = wrap(label, (LABEL_IN - 0.1) * 72, label_font)
        values = wrap(value, (self.width_in - LABEL_IN) * 72, value_font)
        for label_line, value_line in zip_longest(labels, values, fillvalue=""):
            figure = self._room(FIELD_PT * LEADING / 72)
            self._text(figure, label_line, label_font, MARGIN_IN, MUTED)
            self._text(figure, value_line, value_font, MARGIN_IN + LABEL_IN, TEXT)
            self._y -= FIELD_PT * LEADING / 72

    def image(self, png: bytes, *, max_height_in: float, min_width_in: float = 3.0) -> None:
        """A PNG at its drawn size (100 dpi), enlarged to ``min_width_in``, shrunk to fit."""
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        height_px, width_px = pixels.shape[:2]
        width = min(self.width_in, max(min_width_in, width_px / IMAGE_DPI))
        width = min(width, max_height_in * width_px / height_px)
        height = width * height_px / width_px
        figure = self._room(height + 0.1)
        axes = figure.add_axes(
            (
                MARGIN_IN / A4_IN[0],
                (self._y - height) / A4_IN[1],
                width / A4_IN[0],
                height / A4_IN[1],
            )
        )
        axes.imshow(pixels, interpolation="none", aspect="auto")
        axes.set_axis_off()
        self._y -= height + 0.1

    def space(self, inches: float) -> None:
        if self._figure is not None:
            self._y -= inches

    def finish(self) -> None:
        if self._figure is not None:
            self._pdf.savefig(self._figure)
            self._figure = None

    def _lines(
        self, text: str, font: FontProperties, *, colour: str = TEXT, keep_in: float = 0
    ) -> None:
        height = font.get_size_in_points() * LEADING / 72
        for index, line in enumerate(wrap(text, self.width_in * 72, font)):
            figure = self._room(height + (keep_in if index == 0 else 0))
            self._text(figure, line, font, MARGIN_IN, colour)
            self._y -= height

    def _text(self, figure: Figure, line: str, font: FontProperties, x: float, colour: str) -> None:
        """One line with its top at the cursor, ``x`` inches from the left edge."""
        figure.text(
            x,
            self._y,
            line,
            fontproperties=font,
            color=colour,
            va="top",
            parse_math=False,
            transform=figure.dpi_scale_trans,
        )

    def _room(self, height_in: float) -> Figure:
        """The current page if ``height_in`` fits below the cursor, else a new page."""
        if self._figure is None or self._y - height_in < MARGIN_IN + FOOTER_IN:
            self._new_page()
        assert self._figure is not None
        return self._figure

    def _new_page(self) -> None:
        from matplotlib.figure import Figure

        self.finish()
        self._pages += 1
        self._figure = Figure(figsize=A4_IN, facecolor="white")
        self._figure.text(
            MARGIN_IN,
            MARGIN_IN,
            f"{self._footer} - page {self._pages}",
            fontproperties=text_font(7.0),
            color=MUTED,
            va="bottom",
            parse_math=False,
            transform=self._figure.dpi_scale_trans,
        )
        self._y = A4_IN[1] - MARGIN_IN


def build_pdf(
    draw: Callable[[Flow], None], *, title: str, footer: str, created: datetime | None
) -> bytes:
    """The PDF of what ``draw`` puts on a :class:`Flow`; ``created`` is its CreationDate
    (None: no date at all)."""
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    metadata = {"Title": title, "Creator": "xai-stack", "Producer": None, "CreationDate": created}
    with PdfPages(buffer, metadata=metadata) as pdf:
        flow = Flow(pdf, footer)
        draw(flow)
        flow.finish()
    return buffer.getvalue()
