"""Headings, paragraphs, labelled fields and images as a platypus story for :mod:`pdfa`.

Every text is a ReportLab ``Paragraph`` (escaped, its own line breaks kept), so it wraps to the
column, and a word longer than a line (a hash) is broken. Consecutive fields make one two-column
table whose rows, and a row taller than a page, split over pages.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from PIL import Image as PILImage

from services.api.audit.pdfa import MARGIN_PT, MONO, MUTED, SANS, SANS_BOLD, register_fonts

if TYPE_CHECKING:
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Flowable

TEXT = "#111111"
LABEL_PT = 1.5 * 72
FIELD_PT = 8.0
LEADING = 1.3
IMAGE_DPI = 100  # renderings are drawn at 100 dpi (shared.rendering._figure)
WIDTH_PT = 595.2756 - 2 * MARGIN_PT  # A4


def style(
    size: float, *, font: str = SANS, colour: str = TEXT, keep_with_next: bool = False
) -> ParagraphStyle:
    from reportlab.lib.colors import HexColor
    from reportlab.lib.styles import ParagraphStyle

    register_fonts()  # a Paragraph looks its font up as it is made
    return ParagraphStyle(
        f"{font}-{size}-{colour}-{keep_with_next}",
        fontName=font,
        fontSize=size,
        leading=size * LEADING,
        textColor=HexColor(colour),
        keepWithNext=int(keep_with_next),
        splitLongWords=1,
    )


def markup(text: str) -> str:
    """``text`` as Paragraph markup that shows it as it is."""
    return escape(text).replace("\n", "<br/>")


class Story:
    """The flowables of a document, in reading order."""

    def __init__(self) -> None:
        self.flowables: list[Flowable] = []
        self._fields: list[list[Flowable]] = []

    def heading(self, text: str, *, size: float = 12.0) -> None:
        """A bold heading, kept on one page with the start of what follows it."""
        self.space(0.12 * size / 12)
        self._add(_paragraph(text, style(size, font=SANS_BOLD, keep_with_next=True)))

    def paragraph(self, text: str, *, size: float = 9.0, muted: bool = False) -> None:
        self._add(_paragraph(text, style(size, colour=MUTED if muted else TEXT)))

    def field(self, label: str, value: str, *, mono: bool = False) -> None:
        """``label`` in a narrow column, ``value`` wrapped beside it."""
        self._fields.append(
            [
                _paragraph(label, style(FIELD_PT, font=SANS_BOLD, colour=MUTED)),
                _paragraph(value, style(FIELD_PT, font=MONO if mono else SANS)),
            ]
        )

    def image(self, png: bytes, *, max_height_in: float, min_width_in: float = 3.0) -> None:
        """A PNG's RGB pixels at their drawn size (100 dpi), enlarged to ``min_width_in``,
        shrunk to fit the column and ``max_height_in``; left-aligned."""
        from reportlab.platypus import Image

        rgb = PILImage.open(io.BytesIO(png)).convert("RGB")
        width_px, height_px = rgb.size
        width = min(WIDTH_PT, max(min_width_in * 72, width_px / IMAGE_DPI * 72))
        width = min(width, max_height_in * 72 * width_px / height_px)
        encoded = io.BytesIO()
        rgb.save(encoded, format="PNG")
        encoded.seek(0)
        self._add(Image(encoded, width=width, height=width * height_px / width_px, hAlign="LEFT"))
        self.space(0.1)

    def space(self, inches: float) -> None:
        from reportlab.platypus import Spacer

        self._add(Spacer(1, inches * 72))

    def finish(self) -> list[Flowable]:
        self._flush_fields()
        return self.flowables

    def _add(self, flowable: Flowable) -> None:
        self._flush_fields()
        self.flowables.append(flowable)

    def _flush_fields(self) -> None:
        if not self._fields:
            return
        from reportlab.platypus import Table, TableStyle

        table = Table(
            self._fields,
            colWidths=[LABEL_PT, WIDTH_PT - LABEL_PT],
            hAlign="LEFT",
            splitByRow=1,
            splitInRow=1,
        )
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), SANS, FIELD_PT),  # not Helvetica, never embedded
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (0, -1), 6),
                    ("RIGHTPADDING", (1, 0), (1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 0.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 0.5),
                ]
            )
        )
        self.flowables.append(table)
        self._fields = []


def _paragraph(text: str, paragraph_style: ParagraphStyle) -> Flowable:
    from reportlab.platypus import Paragraph

    return Paragraph(markup(text), paragraph_style)
