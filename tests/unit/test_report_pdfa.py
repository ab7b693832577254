"""The decision report's PDF as an archival file: PDF/A-2b as far as its structure shows (pypdf
and poppler), pages numbered "N of M", text inside the margins, the same bytes in any process,
and no matplotlib on the way."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PIL import Image
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfbase.pdfdoc import PDFName, PDFString
from reportlab.pdfgen.canvas import Canvas

from services.api.audit.report_pdf import render_report_pdf
from tests.support.pdf import FOOTER, embedded_images, read
from tests.support.pdfa import pdfa_2b_problems, xmp, xmp_value
from tests.unit.test_report_pdf import A4_PT, sample_report

ROOT = Path(__file__).parents[2]
MARGIN_PT = 0.7 * 72
POPPLER = "pdfinfo and pdffonts (Debian's poppler-utils) are missing: apt-get install poppler-utils"


def plain_png() -> bytes:
    """A rendering made without matplotlib: a 40x24 gradient."""
    image = Image.new("RGB", (40, 24))
    image.putdata([(x * 6, y * 10, 128) for y in range(24) for x in range(40)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def report() -> tuple[dict[str, Any], dict[str, bytes]]:
    png = plain_png()
    sha = hashlib.sha256(png).hexdigest()
    return sample_report(sha), {sha: png}


@pytest.fixture(scope="module")
def pdf(report: tuple[dict[str, Any], dict[str, bytes]]) -> bytes:
    return render_report_pdf(report[0], renderings=report[1])


def test_the_report_is_pdfa_2b_as_far_as_its_structure_shows(pdf: bytes) -> None:
    assert pdfa_2b_problems(pdf) == []
    assert pdf.startswith(b"%PDF-1.7\n%")
    packet = xmp(pdf)
    assert (xmp_value(packet, "pdfaid", "part"), xmp_value(packet, "pdfaid", "conformance")) == (
        "2",
        "B",
    )
    assert xmp_value(packet, "xmp", "CreateDate") == "2026-01-02T03:04:05Z"  # generated_at
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root: Any = reader.trailer["/Root"]
    (intent,) = root["/OutputIntents"]
    assert intent["/OutputConditionIdentifier"] == "sRGB IEC61966-2.1"
    icc = intent["/DestOutputProfile"].get_object().get_data()
    assert (icc[12:16], icc[16:20], icc[36:40]) == (b"mntr", b"RGB ", b"acsp")
    fonts = {
        font.get_object()["/BaseFont"].split("+")[1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts == {"DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"}


def test_the_checks_find_what_breaks_pdfa(pdf: bytes) -> None:
    """Each check can fail: the report with one requirement broken, and ordinary PDFs."""
    broken = {
        b"%PDF-1.7": (b"%PDF-2.0", "header"),
        b"/OutputIntents": (b"/OutputIntentz", "no GTS_PDFA1 output intent"),
        b"<pdfaid:part>2<": (b"<pdfaid:part>1<", "pdfaid:part 1"),
        b"<pdfaid:conformance>B<": (b"<pdfaid:conformance>b<", "conformance b"),
        b"/FontFile2": (b"/FontFileX", "is not embedded"),
        b"\nendstream": (b" endstream", "endstream is not on its own line"),
    }
    for part, (replacement, problem) in broken.items():
        assert part in pdf, part
        found = pdfa_2b_problems(pdf.replace(part, replacement, 1))
        assert any(problem in line for line in found), (part, found)
    plain = io.BytesIO()
    canvas = Canvas(plain)
    canvas.setFillColorCMYK(0, 1, 0, 0)
    canvas.drawString(72, 72, "Helvetica, never embedded")
    canvas.setCatalogEntry("OpenAction", {"S": PDFName("JavaScript"), "JS": PDFString("1")})
    canvas.save()
    found = "\n".join(pdfa_2b_problems(plain.getvalue()))
    for problem in ("no XMP metadata", "no GTS_PDFA1", "Helvetica) is not embedded", "CMYK"):
        assert problem in found, problem
    assert "JavaScript" in found and "endstream is not on its own line" in found
    locked = io.BytesIO()
    canvas = Canvas(locked, encrypt=StandardEncryption("", ownerPassword="owner"))
    canvas.save()
    assert pdfa_2b_problems(locked.getvalue()) == ["the file is encrypted"]


def test_poppler_reads_pdf_17_with_every_font_embedded_and_nothing_active(
    pdf: bytes, tmp_path: Path
) -> None:
    assert shutil.which("pdfinfo") and shutil.which("pdffonts"), POPPLER
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", path], capture_output=True, text=True, check=True)
    assert info.stderr == ""  # poppler reports broken cross-references and streams there
    fields = dict(re.findall(r"^([^:]+):\s+(.*)$", info.stdout, flags=re.M))
    assert fields["PDF version"] == "1.7" and fields["Encrypted"] == "no"
    assert fields["JavaScript"] == "no" and fields["Metadata Stream"] == "yes"
    assert fields["Page size"].endswith("(A4)") and fields["CreationDate"].endswith("2026 UTC")
    fonts = subprocess.run(["pdffonts", path], capture_output=True, text=True, check=True)
    rows = fonts.stdout.splitlines()[2:]  # after the header and its rule
    assert len(rows) == 3 and fonts.stderr == ""
    for row in rows:
        name, kind, *_, embedded, subset, unicode, _, _ = row.split()
        assert (embedded, subset, unicode) == ("yes", "yes", "yes"), row
        assert "DejaVu" in name and kind == "TrueType"


def test_pages_are_numbered_n_of_m_and_text_stays_inside_the_margins(
    report: tuple[dict[str, Any], dict[str, bytes]],
) -> None:
    long = copy.deepcopy(report[0])
    long["chain"]["records"] = [{**long["chain"]["records"][0], "seq": n} for n in range(40)]
    reader = pypdf.PdfReader(io.BytesIO(render_report_pdf(long, renderings=report[1])))
    total = len(reader.pages)
    assert total > 2
    for number, page in enumerate(reader.pages, start=1):
        footers = [line for line in page.extract_text().splitlines() if line.startswith(FOOTER)]
        assert footers == [f"{FOOTER} {long['prediction']['id']} - page {number} of {total}"]
        xs, ys = zip(*_text_positions(page), strict=True)
        assert min(xs) >= MARGIN_PT - 0.5 and min(ys) >= MARGIN_PT - 0.5
        assert max(ys) <= A4_PT[1] - MARGIN_PT + 0.5 and max(xs) < A4_PT[0] - MARGIN_PT


def test_free_text_is_shown_as_written_never_read_as_markup(
    report: tuple[dict[str, Any], dict[str, bytes]],
) -> None:
    tricky = copy.deepcopy(report[0])
    reason = '<img src="/etc/hostname"/> a < b & <font color="red">c</font>'
    tricky["feedback"][0]["reason"] = reason
    reader, text = read(render_report_pdf(tricky, renderings=report[1]))
    assert reason in text
    assert len(embedded_images(reader)) == 1  # the rendering, and no file from the disk


def test_any_process_gives_the_same_bytes_without_importing_matplotlib(
    report: tuple[dict[str, Any], dict[str, bytes]], pdf: bytes
) -> None:
    script = textwrap.dedent(
        """
        import base64, json, sys
        from services.api.audit.report_pdf import render_report_pdf
        heavy = [m for m in ("reportlab", "matplotlib") if m in sys.modules]
        assert not heavy, f"imported at import time: {heavy}"
        given = json.load(sys.stdin)
        renderings = {sha: base64.b64decode(png) for sha, png in given["renderings"].items()}
        pdf = render_report_pdf(given["report"], renderings=renderings)
        assert "matplotlib" not in sys.modules, "the PDF path imported matplotlib"
        sys.stdout.buffer.write(pdf)
        """
    )
    given = {
        "report": report[0],
        "renderings": {sha: base64.b64encode(png).decode() for sha, png in report[1].items()},
    }
    other = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(given).encode(),
        capture_output=True,
        check=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    )
    assert other.stdout == pdf


def _text_positions(page: pypdf.PageObject) -> list[tuple[float, float]]:
    """Where each piece of text starts (x, baseline y), in points."""
    positions: list[tuple[float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            positions.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    return positions
