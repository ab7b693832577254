"""DICOM files carrying canary identifiers in every kind of place a file can hold one (plain
tags, nested sequences, private tags and sequences, overlays, LUT explanations, file meta, UIDs),
and a search for them in any encoding: for the de-identification and canary-scan tests."""

from __future__ import annotations

import io
from typing import Any

from tests.support import inputs

# Text attributes that Table E.1-1 removes or empties (VR given for the length limits).
TEXT_TAGS = {
    "PatientName": "PN", "PatientID": "LO", "OtherPatientIDs": "LO", "OtherPatientNames": "PN",
    "PatientBirthName": "PN", "PatientMotherBirthName": "PN", "PatientAddress": "LO",
    "PatientTelephoneNumbers": "SH", "EthnicGroup": "SH", "PatientComments": "LT",
    "AdditionalPatientHistory": "LT", "MedicalRecordLocator": "LO", "InstitutionName": "LO",
    "InstitutionAddress": "ST", "InstitutionalDepartmentName": "LO",
    "ReferringPhysicianName": "PN", "PerformingPhysicianName": "PN", "OperatorsName": "PN",
    "NameOfPhysiciansReadingStudy": "PN", "RequestingPhysician": "PN", "AccessionNumber": "SH",
    "StudyID": "SH", "StationName": "SH", "DeviceSerialNumber": "LO", "StudyDescription": "LO",
    "SeriesDescription": "LO", "ProtocolName": "LO", "ImageComments": "LT",
    "RequestedProcedureDescription": "LO", "PerformedProcedureStepID": "SH",
    "WindowCenterWidthExplanation": "LO", "RescaleType": "LO",
}  # fmt: skip
ORIGINAL_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
REFERENCED_UID = "1.2.826.0.1.3680043.9.4242.1"
ENCODINGS = ("ascii", "latin-1", "utf-8", "utf-16-le", "utf-16-be")


def canary_dicom(
    label: str, *, implicit: bool = False, luts: bool = False
) -> tuple[bytes, list[str]]:
    """CT_small carrying a distinct canary (``XQZ<label>…``) in every identifying place; returns
    the file and the canaries planted (original UIDs and the birth date included)."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    dataset = pydicom.dcmread(io.BytesIO(inputs.ct_small()))
    canaries: list[str] = []

    def canary(code: str) -> str:
        canaries.append(f"XQZ{label}{code}")
        return canaries[-1]

    dataset.SpecificCharacterSet = "ISO_IR 192"
    for number, (keyword, vr) in enumerate(TEXT_TAGS.items()):
        value = canary(f"{number:02d}")
        setattr(dataset, keyword, f"{value}^Ünïcødé" if vr == "PN" else value)
    canaries.append("Ünïcødé")
    dataset.PatientBirthDate = "18870314"
    canaries += ["18870314", *(str(dataset[k].value) for k in ORIGINAL_UIDS)]
    referenced = Dataset()
    referenced.PatientName = canary("NEST1")
    inner = Dataset()
    inner.PatientID = canary("NEST2")
    inner.IssuerOfPatientID = canary("NEST3")
    referenced.OtherPatientIDsSequence = Sequence([inner])
    dataset.ReferencedPatientSequence = Sequence([referenced])
    request = Dataset()
    request.RequestedProcedureID = canary("REQ1")
    request.ScheduledProcedureStepID = canary("REQ2")
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = REFERENCED_UID
    canaries.append(REFERENCED_UID)
    request.ReferencedStudySequence = Sequence([study])
    dataset.RequestAttributesSequence = Sequence([request])
    block = dataset.private_block(0x0011, f"XQZ{label} CREATOR", create=True)
    canaries.append(f"XQZ{label} CREATOR")
    block.add_new(0x01, "LO", canary("PRIV1"))
    hidden = Dataset()
    hidden.PatientName = canary("PRIV2")
    block.add_new(0x02, "SQ", Sequence([hidden]))
    dataset.add_new(0x60000022, "LO", canary("OVL1"))  # Overlay Description
    dataset.add_new(0x60001500, "LO", canary("OVL2"))  # Overlay Label
    if luts:
        _add_lut_sequences(dataset, canary("LUT1"), canary("LUT2"))
    dataset.file_meta.SourceApplicationEntityTitle = canary("AE")
    if implicit:
        dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    assert all(c.encode() in data for c in canaries), "the canaries are planted"
    return data, canaries


def _add_lut_sequences(dataset: Any, modality_text: str, voi_text: str) -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    modality = Dataset()
    modality.LUTDescriptor = [4096, 0, 16]
    modality.ModalityLUTType = "HU"
    modality.LUTExplanation = modality_text
    modality.add_new(0x00283006, "US", list(range(0, 8192, 2)))  # LUT Data
    voi = Dataset()
    voi.LUTDescriptor = [4096, 0, 12]
    voi.LUTExplanation = voi_text
    voi.add_new(0x00283006, "US", [min(v, 4095) for v in range(0, 4096 * 3, 3)])
    dataset.ModalityLUTSequence = Sequence([modality])
    dataset.VOILUTSequence = Sequence([voi])


def assert_no_canary(data: bytes, canaries: list[str]) -> None:
    found = [c for c in canaries if any(form in data for form in _encoded(c))]
    assert not found, f"identifiers survive in the stored bytes: {found}"


def _encoded(text: str) -> list[bytes]:
    forms = []
    for encoding in ENCODINGS:
        try:
            forms.append(text.encode(encoding))
        except UnicodeEncodeError:  # e.g. "Ü" has no ASCII form
            continue
    return forms


def canary_png(label: str) -> tuple[bytes, list[str]]:
    """A radiograph PNG carrying canaries in every text place PNG has: tEXt, zTXt, iTXt (plain
    and compressed, with a translated keyword), XMP (iTXt XML:com.adobe.xmp) and eXIf."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    canaries = [f"XQZ{label}{code}" for code in ("PNAME", "ZTXT", "ITXT", "ITXTZ", "XMP", "EXIF")]
    info = PngInfo()
    info.add_text("PatientName", canaries[0])
    info.add_text("Comment", canaries[1], zip=True)
    info.add_itxt("Description", canaries[2], lang="en", tkey="Beschreibung")
    info.add_itxt("Author", canaries[3], zip=True)
    info.add_itxt("XML:com.adobe.xmp", _xmp(canaries[4]))
    image = Image.fromarray((inputs.radiograph(64) * 255).astype("uint8"))
    data = inputs.png_bytes(image, pnginfo=info, exif=_exif(canaries[5]))
    assert all(c.encode() in data or _in_zlib(data, c) for c in canaries), (
        "the canaries are planted"
    )
    return data, canaries


def canary_jpeg(label: str) -> tuple[bytes, list[str]]:
    """A radiograph JPEG carrying canaries in EXIF (APP1), XMP (APP1) and a comment (COM)."""
    from PIL import Image

    canaries = [f"XQZ{label}{code}" for code in ("EXIF", "XMP", "COM")]
    image = Image.fromarray((inputs.radiograph(64) * 255).astype("uint8"))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=_exif(canaries[0]), xmp=_xmp(canaries[1]).encode(),
               comment=canaries[2])  # fmt: skip
    data = buffer.getvalue()
    assert all(c.encode() in data for c in canaries), "the canaries are planted"
    return data, canaries


def _exif(text: str) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = text  # Artist
    exif[0x010E] = f"{text} Ünïcødé"  # ImageDescription
    return exif.tobytes()


def _xmp(text: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
        f'syntax-ns#"><rdf:Description dc:creator="{text}" xmlns:dc="http://purl.org/dc/elements/'
        '1.1/"/></rdf:RDF></x:xmpmeta>'
    )


def _in_zlib(data: bytes, text: str) -> bool:
    """Whether ``text`` is in a compressed (zTXt or compressed iTXt) chunk of the PNG ``data``."""
    import struct
    import zlib

    offset = 8
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        if kind in (b"zTXt", b"iTXt"):
            for start in range(len(body)):
                try:
                    if text.encode() in zlib.decompress(body[start:]):
                        return True
                except zlib.error:
                    continue
        offset += 12 + length
    return False


def assert_no_canary_in_png(data: bytes, canaries: list[str]) -> None:
    """No canary in the PNG ``data``, as written or inside any compressed text chunk."""
    assert_no_canary(data, canaries)
    found = [c for c in canaries if _in_zlib(data, c)]
    assert not found, f"identifiers survive compressed in the stored PNG: {found}"
