"""What keeps a PDF from PDF/A-2b, as far as a structural reading with pypdf can tell.

Not a validator (veraPDF is the reference one; it is not packaged for Debian): these checks read
the file's structure for the requirements of ISO 19005-2 level B that decide whether a file
still renders the same decades on — the header, no encryption, a file identifier, cross-reference
offsets and stream keywords (Length, end-of-line markers), XMP metadata
naming part 2 and level B (and agreeing with the information dictionary), an ICC output intent,
every font embedded, no CMYK drawing under an RGB intent, nothing active (JavaScript, launch
actions, additional actions), no LZW, no interpolated or alternate images. Font programs
themselves, glyph coverage and XMP schemas are not checked.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, cast

import pypdf
from pypdf.generic import ContentStream, DictionaryObject, StreamObject

HEADER = re.compile(rb"%PDF-1\.[0-7](\r\n|\r|\n)%[\x80-\xff]{4}")
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
}
FORBIDDEN_ACTIONS = {
    "/JavaScript", "/Launch", "/Sound", "/Movie", "/ResetForm", "/ImportData", "/Hide",
    "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView",
}  # fmt: skip
FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def pdfa_2b_problems(pdf: bytes) -> list[str]:
    """Each requirement ``pdf`` misses, in words; empty when it meets every one checked."""
    problems = [] if HEADER.match(pdf) else ["header is not %PDF-1.0..1.7 and a binary comment"]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    if "/Encrypt" in reader.trailer:
        return [*problems, "the file is encrypted"]
    if not reader.trailer.get("/ID"):
        problems.append("the trailer has no file identifier (ID)")
    root: Any = reader.trailer["/Root"]
    problems += _file_structure(pdf, reader)
    problems += _metadata(root, reader.metadata or {})
    problems += _output_intent(root)
    problems += _fonts_and_colour(reader)
    problems += _objects(reader)
    return problems


def xmp(pdf: bytes) -> ET.Element:
    """The document's XMP packet, parsed (``rdf:Description`` elements and attributes)."""
    root: Any = pypdf.PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    data = root["/Metadata"].get_object().get_data()
    return ET.fromstring(data.decode("utf-8"))


def xmp_value(packet: ET.Element, prefix: str, name: str) -> str | None:
    """A simple property, written as an element or as an attribute; ``dc:title`` and the like
    give their first ``rdf:li``."""
    tag = f"{{{NS[prefix]}}}{name}"
    for description in packet.iter(f"{{{NS['rdf']}}}Description"):
        if tag in description.attrib:
            return description.attrib[tag]
        element = description.find(tag)
        if element is not None:
            item = element.find(".//rdf:li", NS)
            return (item if item is not None else element).text
    return None


def _file_structure(pdf: bytes, reader: pypdf.PdfReader) -> list[str]:
    """Each cross-reference entry points at its object; each stream's keywords sit on their own
    lines and its Length is the bytes between them (6.1.7.1)."""
    problems = []
    for number, offset in sorted(reader.xref[0].items()):
        if not pdf.startswith(b"%d 0 obj" % number, offset):
            problems.append(f"the cross-reference entry of object {number} misses it")
            continue
        obj = reader.get_object(number)
        if not isinstance(obj, StreamObject):
            continue
        keyword = re.compile(rb">>\s*stream(\r\n|\n)").search(pdf, offset)
        declared = keyword and re.search(
            rb"/Length\s+(\d+)(\s+\d+\s+R)?", pdf[offset : keyword.end()]
        )
        if keyword is None or declared is None:
            problems.append(f"stream {number}: no stream keyword or Length")
            continue
        length = int(declared.group(1))
        if declared.group(2):  # an indirect Length
            length = int(cast(Any, reader.get_object(length)))
        if not re.match(rb"(\r\n|\r|\n)endstream", pdf[keyword.end() + length :]):
            problems.append(f"stream {number}: endstream is not on its own line after Length bytes")
    return problems


def _metadata(root: DictionaryObject, info: Any) -> list[str]:
    if "/Metadata" not in root:
        return ["the catalog has no XMP metadata stream"]
    stream: Any = root["/Metadata"].get_object()
    data = stream.get_data()
    problems = []
    if (stream.get("/Type"), stream.get("/Subtype")) != ("/Metadata", "/XML"):
        problems.append("the metadata stream is not /Type /Metadata /Subtype /XML")
    header = re.match(rb"<\?xpacket ([^?]*)\?>", data)
    if header is None or re.search(rb"\b(bytes|encoding)=", header.group(1)):
        problems.append("the XMP packet header is missing or names bytes/encoding")
    try:
        packet = ET.fromstring(data.decode("utf-8"))
    except (UnicodeDecodeError, ET.ParseError) as exc:
        return [*problems, f"the XMP packet is not well-formed UTF-8 XML ({exc})"]
    part = xmp_value(packet, "pdfaid", "part")
    conformance = xmp_value(packet, "pdfaid", "conformance")
    if (part, conformance) != ("2", "B"):
        problems.append(f"XMP says pdfaid:part {part}, pdfaid:conformance {conformance}")
    if xmp_value(packet, "dc", "title") != info.get("/Title"):
        problems.append("XMP dc:title differs from the information dictionary's Title")
    created = xmp_value(packet, "xmp", "CreateDate")
    if info.get("/CreationDate") and _pdf_date(created) != info["/CreationDate"]:
        problems.append(f"XMP CreateDate {created} is not CreationDate {info['/CreationDate']}")
    return problems


def _pdf_date(xmp_date: str | None) -> str | None:
    """``2026-01-02T03:04:05Z`` as ``D:20260102030405Z`` (UTC dates only)."""
    if xmp_date is None or not xmp_date.endswith("Z"):
        return xmp_date
    return "D:" + re.sub(r"[-:T]", "", xmp_date)


def _output_intent(root: DictionaryObject) -> list[str]:
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if not pdfa:
        return ["the catalog has no GTS_PDFA1 output intent"]
    if len({getattr(i.get("/DestOutputProfile"), "idnum", None) for i in intents}) > 1:
        return ["the output intents name different profiles"]
    profile = pdfa[0].get("/DestOutputProfile")
    if profile is None:
        return ["the output intent has no DestOutputProfile"]
    icc = profile.get_object().get_data()
    components = {b"RGB ": 3, b"CMYK": 4, b"GRAY": 1}.get(icc[16:20])
    if len(icc) < 128 or icc[36:40] != b"acsp":
        return ["the output intent's profile is not an ICC profile"]
    problems = []
    if icc[12:16] not in (b"mntr", b"prtr") or components is None or icc[8] >= 5:
        problems.append(f"the ICC profile is {icc[12:16]!r}/{icc[16:20]!r}, version {icc[8]}")
    if profile.get_object().get("/N") != components:
        problems.append("the ICC profile stream's N is not its number of components")
    return problems


def _fonts_and_colour(reader: pypdf.PdfReader) -> list[str]:
    problems: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        for resources in _resources(page.get("/Resources")):
            for name, font in (resources.get("/Font") or {}).items():
                if not _embedded(font.get_object()):
                    base = font.get_object().get("/BaseFont")
                    problems.append(f"page {number}: font {name} ({base}) is not embedded")
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator in (b"k", b"K") or (
                operator in (b"cs", b"CS") and "/DeviceCMYK" in operands
            ):
                problems.append(f"page {number}: draws in DeviceCMYK")
                break
    return problems


def _resources(resources: Any) -> Iterator[DictionaryObject]:
    """A resource dictionary and those of the form XObjects it names, recursively."""
    if resources is None:
        return
    resources = resources.get_object()
    yield resources
    for xobject in (resources.get("/XObject") or {}).values():
        xobject = xobject.get_object()
        if xobject.get("/Subtype") == "/Form":
            yield from _resources(xobject.get("/Resources"))


def _embedded(font: Any) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # its glyphs are content streams in the file
    if font.get("/Subtype") == "/Type0":
        font = font["/DescendantFonts"][0].get_object()
    descriptor = font.get("/FontDescriptor")
    return descriptor is not None and any(key in descriptor.get_object() for key in FONT_FILES)


def _objects(reader: pypdf.PdfReader) -> list[str]:
    """Actions, JavaScript, LZW and image keys, in every object of the file."""
    problems = set()
    for number in range(1, int(cast(Any, reader.trailer["/Size"]))):
        try:
            obj = reader.get_object(number)
        except (pypdf.errors.PdfReadError, KeyError):
            continue  # a free entry
        if not isinstance(obj, DictionaryObject):
            continue
        if "/JS" in obj or "/JavaScript" in obj or obj.get("/S") in FORBIDDEN_ACTIONS:
            problems.add(f"object {number} is or holds JavaScript or a forbidden action")
        if "/AA" in obj:
            problems.add(f"object {number} has additional actions (AA)")
        filters = obj.get("/Filter") if isinstance(obj, StreamObject) else None
        if filters is not None and "/LZWDecode" in (
            filters if isinstance(filters, list) else [filters]
        ):
            problems.add(f"object {number} is LZW-compressed")
        if obj.get("/Subtype") == "/Image" and (
            obj.get("/Interpolate") or "/Alternates" in obj or "/OPI" in obj
        ):
            problems.add(f"image object {number} interpolates or has Alternates/OPI")
    return sorted(problems)
