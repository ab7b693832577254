"""A4 documents written as PDF/A-2b (ISO 19005-2, level B) with ReportLab's platypus.

Level B asks for what keeps a file rendering the same for decades: every font embedded (the
DejaVu TrueType fonts matplotlib ships, subset by ReportLab), colour tied to an ICC output intent
(sRGB, littleCMS's built-in profile through Pillow), XMP metadata naming the part and level, and
nothing active (no JavaScript, encryption, forms or links). ReportLab writes each piece but the
output intent, which its catalog is taught here.

The bytes are a function of the content: ReportLab's invariant mode (its fixed timestamp and a
file identifier from the title, subject and keywords), the dates given in :class:`PdfMeta`, and
no software version.
"""

from __future__ import annotations

import io
import struct
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from reportlab.platypus import Flowable

SANS, SANS_BOLD, MONO = "XaiDejaVuSans", "XaiDejaVuSans-Bold", "XaiDejaVuSansMono"
_FONT_FILES = {SANS: "DejaVuSans.ttf", SANS_BOLD: "DejaVuSans-Bold.ttf", MONO: "DejaVuSansMono.ttf"}
MARGIN_PT = 0.7 * 72
FOOTER_PT = 0.35 * 72
FOOTER_SIZE = 7.0
MUTED = "#555555"
CREATOR = "xai-stack"
PRODUCER = "xai-stack with ReportLab"
PDF_VERSION = (1, 7)  # PDF/A-2 is based on PDF 1.7 (ISO 32000-1)
OUTPUT_CONDITION = "sRGB IEC61966-2.1"
# littleCMS stamps its built-in profile with the time it was made; a fixed stamp keeps the
# profile, and so the document, the same bytes on every run.
PROFILE_CREATED = (2026, 1, 1, 0, 0, 0)

_fonts_lock = threading.Lock()


@dataclass(frozen=True)
class PdfMeta:
    """What the document information dictionary and the XMP metadata say about a document."""

    title: str
    subject: str
    keywords: tuple[str, ...]
    footer: str  # each page ends with "<footer> - page N of M"
    created: datetime  # the creation and modification date (timezone-aware)

    @property
    def utc(self) -> datetime:
        return self.created.astimezone(UTC).replace(microsecond=0)

    @property
    def document_id(self) -> uuid.UUID:
        """The same title and date name the same document."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"xai-stack:{self.title}:{self.utc.isoformat()}")


def build_pdfa(story: Sequence[Flowable], meta: PdfMeta) -> bytes:
    """``story`` flowed over A4 pages (margins of ``MARGIN_PT``) as PDF/A-2b bytes."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    register_fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_PT,
        rightMargin=MARGIN_PT,
        topMargin=MARGIN_PT,
        bottomMargin=MARGIN_PT + FOOTER_PT,
        title=meta.title,
        author=CREATOR,
        subject=meta.subject,
        creator=CREATOR,
        producer=PRODUCER,
        keywords=list(meta.keywords),
        invariant=1,
        lang="en",
        initialFontName=SANS,
        displayDocTitle=True,
    )
    document.build(list(story), canvasmaker=_canvas_maker(meta))
    return end_streams_on_their_own_line(buffer.getvalue())


def end_streams_on_their_own_line(pdf: bytes) -> bytes:
    """A line feed before each ``endstream`` keyword, which ISO 19005-2 (6.1.7.1) asks for and
    ReportLab leaves out; the cross-reference table and ``startxref`` are moved to match.

    The objects are found through ReportLab's cross-reference table (one section, objects in
    number order, each entry ``oooooooooo ggggg n``), never by searching the data."""
    xref_at = int(pdf[pdf.rindex(b"startxref") :].split()[1])
    lines = pdf[xref_at:].split(b"\n")
    first, count = map(int, lines[1].split())
    entries = lines[2 : 2 + count]
    if first != 0 or len(entries) != count or not entries[0].endswith(b" f "):
        raise ValueError("not the one-section cross-reference table ReportLab writes")
    offsets = sorted(int(entry[:10]) for entry in entries if entry[17:18] == b"n")
    bounds = [*offsets, xref_at]
    body, moved, shift = [pdf[: offsets[0]]], {}, 0
    for start, end in zip(bounds, bounds[1:], strict=False):
        moved[start] = start + shift
        chunk = pdf[start:end]
        if chunk.endswith(b"endstream\nendobj\n") and chunk[-18:-17] not in (b"\n", b"\r"):
            chunk = chunk[:-17] + b"\n" + chunk[-17:]
            shift += 1
        body.append(chunk)
    table = [b"xref", b"%d %d" % (first, count)]
    for entry in entries:
        offset = int(entry[:10])
        table.append(b"%010d" % moved.get(offset, offset) + entry[10:])
    tail = b"\n".join(lines[2 + count :])
    tail = tail[: tail.rindex(b"startxref")] + b"startxref\n%d\n%%%%EOF\n" % (xref_at + shift)
    return b"".join(body) + b"\n".join(table) + b"\n" + tail


def register_fonts() -> None:
    """Register the DejaVu fonts with ReportLab, once per process (``<b>`` picks the bold)."""
    with _fonts_lock:
        _register_fonts()


@cache
def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = font_folder()
    for name, file in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(
        SANS, normal=SANS, bold=SANS_BOLD, italic=SANS, boldItalic=SANS_BOLD
    )
    pdfmetrics.registerFontFamily(MONO, normal=MONO, bold=MONO, italic=MONO, boldItalic=MONO)


def font_folder() -> Path:
    """matplotlib's bundled TrueType fonts, found without importing matplotlib."""
    spec = find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the PDF report embeds matplotlib's DejaVu fonts: install matplotlib")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


@cache
def srgb_profile() -> bytes:
    """An sRGB display profile (ICC v4, device class ``mntr``) for the output intent."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = struct.pack(">6H", *PROFILE_CREATED)  # the header's dateTimeNumber
    return bytes(profile)


def xmp_packet(meta: PdfMeta) -> bytes:
    """The XMP metadata: Dublin Core, XMP basic and PDF properties as the information
    dictionary states them, and the PDF/A identification (part 2, conformance B)."""
    date = meta.utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    document = f"uuid:{meta.document_id}"
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about=""
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
 xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
 xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(meta.title)}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{CREATOR}</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(meta.subject)}</rdf:li></rdf:Alt>\
</dc:description>
<pdf:Producer>{PRODUCER}</pdf:Producer>
<pdf:Keywords>{escape(", ".join(meta.keywords))}</pdf:Keywords>
<xmp:CreatorTool>{CREATOR}</xmp:CreatorTool>
<xmp:CreateDate>{date}</xmp:CreateDate>
<xmp:ModifyDate>{date}</xmp:ModifyDate>
<xmp:MetadataDate>{date}</xmp:MetadataDate>
<xmpMM:DocumentID>{document}</xmpMM:DocumentID>
<xmpMM:InstanceID>{document}</xmpMM:InstanceID>
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def _canvas_maker(meta: PdfMeta) -> Any:
    """The canvas class platypus makes: PDF/A catalog entries, and pages numbered "N of M"
    (each page is kept until the last, so the count is known when the footers are drawn)."""
    from reportlab.lib.colors import HexColor
    from reportlab.pdfbase.pdfdoc import (
        XMP,
        PDFArray,
        PDFDictionary,
        PDFName,
        PDFStream,
        PDFString,
        PDFZCompress,
    )
    from reportlab.pdfgen.canvas import Canvas

    class ArchivalCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, pdfVersion=PDF_VERSION, **kwargs)
            self._kept_pages: list[dict[str, Any]] = []
            stamp = meta.utc.strftime("D:%Y%m%d%H%M%SZ")
            self.setDateFormatter(lambda *_: stamp)
            self.setCatalogEntry("Metadata", XMP(creator=lambda _: xmp_packet(meta)))
            profile = PDFStream(PDFDictionary({"N": 3}), srgb_profile(), filters=[PDFZCompress])
            intent = PDFDictionary(
                {
                    "Type": PDFName("OutputIntent"),
                    "S": PDFName("GTS_PDFA1"),
                    "OutputConditionIdentifier": PDFString(OUTPUT_CONDITION),
                    "Info": PDFString(f"{OUTPUT_CONDITION} (littleCMS built-in profile)"),
                    "DestOutputProfile": self._doc.Reference(profile, "OutputProfile"),
                }
            )
            catalog = self._doc.Catalog
            # ReportLab's catalog writes only the keys it lists; OutputIntents is not one.
            catalog.__NoDefault__ = [*type(catalog).__NoDefault__, "OutputIntents"]
            catalog.OutputIntents = PDFArray([intent])

        def showPage(self) -> None:
            self._kept_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._kept_pages)
            for number, state in enumerate(self._kept_pages, start=1):
                self.__dict__.update(state)
                self.setFont(SANS, FOOTER_SIZE)
                self.setFillColor(HexColor(MUTED))
                self.drawString(MARGIN_PT, MARGIN_PT, f"{meta.footer} - page {number} of {total}")
                super().showPage()
            super().save()

    return ArchivalCanvas
