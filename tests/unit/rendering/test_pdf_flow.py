"""The PDF flow: wrapped lines fit, text stays within the margins of A4 pages."""

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pypdf
import pytest

from shared.rendering.pdf_flow import MARGIN_IN, Flow, build_pdf, text_font, text_width, wrap

A4_PT = (595.28, 841.89)


@pytest.mark.parametrize("mono", [False, True])
def test_every_wrapped_line_fits_its_width_and_no_character_is_lost(mono: bool) -> None:
    font = text_font(8.0, mono=mono)
    text = "WWWW mmmm " * 60 + "0123456789abcdef" * 12 + " end\nsecond paragraph"
    lines = wrap(text, 200.0, font)
    assert all(text_width(line, font) <= 200.0 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "").replace("\n", "")
    assert lines[-1] == "second paragraph"
    hex_lines = wrap("ab" * 32, 120.0, font)  # a hash wider than the column breaks
    assert len(hex_lines) > 1 and "".join(hex_lines) == "ab" * 32


def test_text_lies_within_the_margins_of_a4_pages() -> None:
    def draw(flow: Flow) -> None:
        for n in range(120):
            flow.field(f"field {n}", "value " * (n % 7 + 1), mono=n % 2 == 0)
        flow.field("longer than a page", "0123456789abcdef " * 400, mono=True)

    reader = pypdf.PdfReader(io.BytesIO(build_pdf(draw, title="t", footer="f", created=None)))
    assert len(reader.pages) > 2 and "/CreationDate" not in (reader.metadata or {})
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
            A4_PT, abs=0.5
        )
        xs, ys = np.array(_text_positions(page)).T
        margin = MARGIN_IN * 72
        assert xs.min() >= margin - 0.5 and ys.min() >= margin - 0.5
        assert ys.max() <= A4_PT[1] - margin + 0.5


def test_import_is_light_and_building_a_pdf_never_touches_pyplot() -> None:
    script = textwrap.dedent(
        """
        import sys
        from shared.rendering.pdf_flow import build_pdf
        assert "matplotlib" not in sys.modules, "matplotlib imported at import time"
        build_pdf(lambda flow: flow.paragraph("x"), title="t", footer="f", created=None)
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        """
    )
    subprocess.run(
        [sys.executable, "-c", script], check=True, timeout=60, cwd=Path(__file__).parents[3]
    )


def _text_positions(page: pypdf.PageObject) -> list[tuple[float, float]]:
    """Where each piece of text starts (x, baseline y), in points."""
    positions: list[tuple[float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            positions.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    return positions
