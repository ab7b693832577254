"""De-identify a DICOM file before it is stored: DICOM PS3.15 Annex E, the Basic Application
Level Confidentiality Profile, implemented as an allow-list.

Rather than deleting the attributes Table E.1-1 names (and missing whatever a vendor put
elsewhere), the stored file is rebuilt from the attributes that decoding needs: the pixel data
and its description, the modality and VOI LUTs, the palette, the geometry and the object's coded
class. Everything else stays behind: every private tag, overlays and curves, every other
sequence at any depth (the two LUT sequences are rebuilt from their own allow-list), free text,
names, dates, and any file meta (group 0002) beyond the SOP class and transfer syntax. So every
attribute of Table E.1-1 is removed (action X), written empty where a valid file needs it
(Z, and D for the dates), or, for instance UIDs, replaced (U).

Replacement UIDs are ``2.25.<128-bit integer>`` taken from a SHA-256 of the de-identified file
itself (written once with placeholder UIDs), never of the original UIDs. The same image thus
always yields the same bytes (a resubmission or an Idempotency-Key replay stores the same blob),
de-identifying a stored file changes nothing, and no one who holds the original UIDs (a PACS)
can link a stored file back by recomputing a hash. Linking submissions of one case is the job
of the keyed ``case_ref`` HMAC (:func:`shared.hashing.pseudonymise`), not of the DICOM file.

Kept values are copied as their encoded bytes, unparsed, so the stored file decodes to the same
tensor as the original did. Out of scope: text burned into the pixels (the Clean Pixel Data
option): pixels are stored unchanged; Burned In Annotation is kept when present to warn a reader.
"""

from __future__ import annotations

import hashlib
import io
from functools import cache
from typing import Any

from shared.preprocess.dicom import read_dicom
from shared.preprocess.errors import InputError

PROFILE = "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile"
METHOD = "PS3.15 E.1 Basic Profile, allow-list (xai-stack)"  # LO: at most 64 characters
_BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")
_UID_DOMAIN = b"xai-stack de-identified UID\0"
_PLACEHOLDER_UID = "2.25.0"
BUFFERED_PIXEL_BYTES = 1024 * 1024

_KEPT = (
    # the object's class and coded description
    "SOPClassUID", "Modality", "ImageType", "BurnedInAnnotation", "PresentationLUTShape",
    "LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod",
    # image pixel module, frames, padding
    "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated",
    "BitsStored", "HighBit", "PixelRepresentation", "PlanarConfiguration", "PixelAspectRatio",
    "SmallestImagePixelValue", "LargestImagePixelValue", "NumberOfFrames", "FrameIncrementPointer",
    "PixelPaddingValue", "PixelPaddingRangeLimit", "PixelPresentation",
    "PixelData", "FloatPixelData", "DoubleFloatPixelData",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths",
    # palette colour
    *(
        f"{prefix}{colour}PaletteColorLookupTable{part}"
        for colour in ("Red", "Green", "Blue", "Alpha")
        for prefix, part in (("", "Descriptor"), ("", "Data"), ("Segmented", "Data"))
    ),
    # modality and VOI LUT
    "RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth", "VOILUTFunction",
    # geometry
    "PixelSpacing", "ImagerPixelSpacing", "SliceThickness", "ImagePositionPatient",
    "ImageOrientationPatient", "PatientOrientation",
)  # fmt: skip
_LUT_SEQUENCES = {"ModalityLUTSequence": ("LUTDescriptor", "ModalityLUTType", "LUTData"),
                  "VOILUTSequence": ("LUTDescriptor", "LUTData")}  # fmt: skip
_REPLACED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_REPLACED_IF_PRESENT = ("FrameOfReferenceUID",)
_EMPTIED = (  # Type 2 in the Patient and General Study modules: present, zero length (Z, D)
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
)  # fmt: skip


def deidentify(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """Return the de-identified Part 10 file and the record of what was done (counts only).

    ``data`` must parse as DICOM (:func:`shared.preprocess.dicom.read_dicom` says why not);
    the decoding checks (pixels, frames, caps) are left to whoever decodes the result.
    """
    source = read_dicom(data)
    try:
        target, kept = _rebuild(source)
        uids = [k for k in (*_REPLACED_UIDS, *_REPLACED_IF_PRESENT) if k in target]
        digest = _digest(target)
        for keyword in uids:
            setattr(target, keyword, _derived_uid(digest, keyword))
        target.file_meta.MediaStorageSOPInstanceUID = target.SOPInstanceUID
        stored = _write(target)
    except InputError:
        raise
    except Exception as exc:  # a value pydicom cannot re-encode: refuse, never store as sent
        reason = f"the DICOM file cannot be de-identified: {type(exc).__name__}: {exc}"
        raise InputError.field("file", reason) from None
    private = sum(1 for tag in source.keys() if tag.is_private)  # noqa: SIM118 (tags, not values)
    replaced = sum(1 for keyword in uids if keyword in source)
    record = {
        "profile": PROFILE,
        "method": "allow-list: pixel, LUT and geometry attributes kept, all others removed",
        "attributes_removed": len(source) - kept - replaced,  # incl. those written empty
        "private_attributes_removed": private,
        "uids_replaced": replaced,
        "burned_in_text": "not checked: the pixels are stored unchanged",
    }
    return stored, record


def _rebuild(source: Any) -> tuple[Any, int]:
    """The allow-listed copy of ``source`` plus markers; and how many attributes it kept."""
    from pydicom.charset import default_encoding
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID

    target = Dataset()
    kept = 0
    for tag in _tags(_KEPT):
        if tag in source:
            target[tag] = source.get_item(tag)
            kept += 1
    _buffer_native_pixels(target)
    for keyword, item_keywords in _LUT_SEQUENCES.items():
        if keyword in source:
            items = [_copy(item, _tags(item_keywords)) for item in source[keyword].value]
            target[keyword] = _sequence(keyword, Sequence(items))
            kept += 1
    for keyword in _REPLACED_UIDS + tuple(k for k in _REPLACED_IF_PRESENT if k in source):
        setattr(target, keyword, _PLACEHOLDER_UID)
    for keyword in _EMPTIED:
        setattr(target, keyword, "")
    target.PatientIdentityRemoved = "YES"
    target.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _BASIC_PROFILE_CODE
    target.DeidentificationMethodCodeSequence = Sequence([code])
    target.LongitudinalTemporalInformationModified = "REMOVED"

    target.file_meta = FileMetaDataset()
    target.file_meta.MediaStorageSOPClassUID = _sop_class(source)
    target.file_meta.MediaStorageSOPInstanceUID = UID(_PLACEHOLDER_UID)
    target.file_meta.TransferSyntaxUID = _transfer_syntax(source)
    # no Specific Character Set is kept: every value left is ASCII (CS, DS, IS, UI, binary)
    target.set_original_encoding(*_read_encoding(source), default_encoding)
    return target, kept


def _buffer_native_pixels(target: Any) -> None:
    """Native (uncompressed) pixel data written from a buffer: pydicom then copies it to the
    file in chunks, rather than encoding the whole value into a buffer first (a copy each)."""
    from pydicom.dataelem import DataElement

    if "PixelData" not in target:
        return
    element = target["PixelData"]  # raw -> element, VR resolved from the pixel description
    value = element.value
    if element.is_undefined_length or not isinstance(value, bytes):  # encapsulated
        return
    if len(value) >= BUFFERED_PIXEL_BYTES:
        target["PixelData"] = DataElement(0x7FE00010, element.VR, io.BytesIO(value))


def _sop_class(source: Any) -> Any:
    """The SOP Class UID (a DICOMDIR names it only in its file meta); a UID, nothing else."""
    from pydicom.uid import UID

    meta = getattr(source, "file_meta", None)
    value = source.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    if not value or not UID(value).is_valid:
        raise InputError.field("file", "the DICOM file names no valid SOP Class UID")
    return value


def _copy(item: Any, tags: tuple[int, ...]) -> Any:
    from pydicom.dataset import Dataset

    copied = Dataset()
    for tag in tags:
        if tag in item:
            copied[tag] = item.get_item(tag)
    return copied


def _sequence(keyword: str, value: Any) -> Any:
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword} is not a DICOM keyword")
    return DataElement(tag, "SQ", value)


def _read_encoding(source: Any) -> tuple[bool, bool]:
    """(implicit VR, little endian) as the elements were actually read: pydicom records the
    declared transfer syntax, but reads elements that contradict it (implicit VR under an
    explicit syntax) as they are, and the copies must be written from what they are."""
    for tag in source.keys():  # noqa: SIM118 (iterating a Dataset would decode every element)
        element = source.get_item(tag)
        if getattr(element, "is_raw", False):
            return element.is_implicit_VR, element.is_little_endian
    implicit, little = source.original_encoding
    return bool(implicit), little is not False


def _transfer_syntax(source: Any) -> Any:
    """The file's transfer syntax; if its meta names none, the one it was actually read with.
    A deflated dataset is stored inflated (Explicit VR Little Endian, the syntax deflate wraps):
    pydicom would otherwise hold the whole dataset twice, encoded and compressed, to write it."""
    from pydicom import uid

    meta = getattr(source, "file_meta", None)
    declared = meta.get("TransferSyntaxUID") if meta is not None else None
    if declared == uid.DeflatedExplicitVRLittleEndian:
        return uid.ExplicitVRLittleEndian
    if declared and uid.UID(declared).is_valid:
        return declared
    implicit, little = _read_encoding(source)
    if implicit:
        return uid.ImplicitVRLittleEndian
    return uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian


def _write(dataset: Any) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class _Sha256Sink:
    """A write-only file that keeps only the SHA-256 of what is written to it."""

    def __init__(self, prefix: bytes) -> None:
        self.hash = hashlib.sha256(prefix)
        self.written = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) not in ((self.written, 0), (0, 1), (0, 2)):
            raise io.UnsupportedOperation("a SHA-256 sink only appends")
        return self.written


def _digest(dataset: Any) -> bytes:
    """SHA-256 of the domain prefix and the file ``dataset`` makes, without holding the file."""
    sink = _Sha256Sink(_UID_DOMAIN)
    dataset.save_as(sink, enforce_file_format=True)
    return sink.hash.digest()


def _derived_uid(digest: bytes, keyword: str) -> str:
    value = hashlib.sha256(digest + keyword.encode()).digest()[:16]
    return f"2.25.{int.from_bytes(value, 'big')}"


@cache
def _tags(keywords: tuple[str, ...]) -> tuple[int, ...]:
    from pydicom.datadict import tag_for_keyword

    tags = tuple(tag_for_keyword(k) for k in keywords)
    assert None not in tags, f"unknown DICOM keyword in {keywords}"
    return tags  # type: ignore[return-value]
