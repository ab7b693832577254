"""De-identification of stored inputs. DICOM (PS3.15 Annex E, Basic Profile): canary identifiers
in every kind of place a DICOM file can hold one (plain tags, nested sequences, private tags and
sequences, overlays, LUT explanations, file meta, UIDs) never reach the stored bytes, and the
stored file decodes to exactly the tensor the original does. PNG and JPEG: no text chunk, EXIF,
XMP, ICC profile or comment is stored; the stored PNG holds the decoded pixels losslessly."""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np
import pytest
from PIL import Image

from shared.bundles.manifest import ImageInput, Manifest, Output
from shared.hashing import sha256_hex
from shared.preprocess import reproduce_tensor
from shared.preprocess.deidentify import deidentify
from shared.preprocess.dicom import decode_dicom
from shared.preprocess.image import prepare_image
from tests.support import inputs
from tests.support.canaries import (
    ORIGINAL_UIDS,
    assert_no_canary,
    assert_no_canary_in_png,
    canary_dicom,
    canary_jpeg,
    canary_png,
)

GRAY = ImageInput(height=32, width=32, channels=1, mean=(0.5,), std=(0.25,))
RGB = ImageInput(height=32, width=32, channels=3, mean=(0.5,) * 3, std=(0.25,) * 3)
PIXELS = 10**6


@pytest.mark.parametrize("variant", [{}, {"implicit": True}, {"luts": True}], ids=str)
def test_no_identifier_reaches_the_stored_bytes(variant: dict[str, bool]) -> None:
    original, canaries = canary_dicom("A", **variant)
    stored = prepare_image(original, GRAY, max_pixels=PIXELS).raw
    assert_no_canary(stored, canaries)
    assert stored[:128] == bytes(128) and stored[128:132] == b"DICM"


@pytest.mark.parametrize("variant", [{}, {"implicit": True}, {"luts": True}], ids=str)
def test_the_stored_file_decodes_to_the_same_tensor(variant: dict[str, bool]) -> None:
    original, _ = canary_dicom("B", **variant)
    prepared = prepare_image(original, GRAY, max_pixels=PIXELS)
    before, _ = decode_dicom(original, max_pixels=PIXELS)
    after, steps = decode_dicom(prepared.raw, max_pixels=PIXELS)
    assert before.std() > 0
    np.testing.assert_array_equal(after, before)
    if variant.get("luts"):
        assert steps["modality_lut"] == "ModalityLUTSequence"
        assert steps["voi"] == "VOILUTSequence[0]"
    manifest = _manifest(GRAY)
    digest = sha256_hex(prepared.tensor_npy())
    reproduced = reproduce_tensor(prepared.raw, manifest, expected_sha256=digest, max_pixels=PIXELS)
    np.testing.assert_array_equal(reproduced, prepared.tensor)


def test_de_identifying_is_deterministic_and_a_stored_file_is_a_fixed_point() -> None:
    first, _ = canary_dicom("C")
    second, _ = canary_dicom("D")  # the same image, other identifiers
    stored, _ = deidentify(first)
    assert deidentify(second)[0] == stored, "identity must not change the stored bytes"
    assert deidentify(stored)[0] == stored
    other = inputs.dicom_rescaled("2")  # other content: other UIDs
    assert _dataset(deidentify(other)[0]).SOPInstanceUID != _dataset(stored).SOPInstanceUID


def test_the_stored_file_is_marked_valid_and_keeps_what_decoding_needs() -> None:
    from pydicom.uid import UID

    original, _ = canary_dicom("E")
    source, stored = _dataset(original), _dataset(deidentify(original)[0])
    assert stored.PatientIdentityRemoved == "YES"
    assert stored.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert stored.LongitudinalTemporalInformationModified == "REMOVED"
    assert stored.PatientName == "" and stored.PatientID == "" and stored.StudyDate == ""
    for keyword in ORIGINAL_UIDS:
        assert stored[keyword].value != source[keyword].value
        assert UID(stored[keyword].value).is_valid and stored[keyword].value.startswith("2.25.")
    assert not [e for e in stored.iterall() if e.tag.is_private or e.tag.group & 0xFF00 == 0x6000]
    meta = stored.file_meta
    assert meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == source.SOPClassUID == stored.SOPClassUID
    assert "SourceApplicationEntityTitle" not in meta
    for keyword in ("Rows", "Columns", "BitsStored", "PixelRepresentation", "RescaleIntercept",
                    "PhotometricInterpretation", "PixelSpacing", "PixelData"):  # fmt: skip
        assert stored[keyword].value == source[keyword].value


def test_the_record_says_what_was_done_without_values() -> None:
    original, canaries = canary_dicom("F")
    steps = prepare_image(original, GRAY, max_pixels=PIXELS).steps
    record = steps["deidentification"]
    assert "Annex E" in record["profile"] and record["uids_replaced"] == 4
    assert record["private_attributes_removed"] >= 2 and record["attributes_removed"] > 40
    text = json.dumps(steps, ensure_ascii=False)
    assert not [c for c in canaries if c in text]


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("MR_small.dcm", GRAY),
        ("MR_small_bigendian.dcm", GRAY),
        ("MR_small_RLE.dcm", GRAY),
        ("JPEG2000.dcm", GRAY),
        ("image_dfl.dcm", GRAY),
        ("rtdose_1frame.dcm", GRAY),
        ("examples_overlay.dcm", GRAY),
        ("examples_palette.dcm", RGB),
        ("SC_rgb_jpeg.dcm", RGB),  # implicit VR under a declared explicit syntax
        ("SC_ybr_full_422_uncompressed.dcm", RGB),
    ],
)
def test_pydicoms_examples_keep_their_tensor(name: str, spec: ImageInput) -> None:
    original = inputs.pydicom_test_file(name)
    stored = prepare_image(original, spec, max_pixels=PIXELS).raw
    before, _ = decode_dicom(original, max_pixels=PIXELS)
    after, _ = decode_dicom(stored, max_pixels=PIXELS)
    np.testing.assert_array_equal(after, before)
    source = _dataset(original)
    assert_no_canary(stored, [str(source.get(k, "")) for k in ORIGINAL_UIDS if k in source])


def _dataset(data: bytes) -> Any:
    import pydicom

    return pydicom.dcmread(io.BytesIO(data))


def _manifest(spec: ImageInput) -> Manifest:
    return Manifest(
        name="deid",
        version="v1",
        task="image-classification",
        input=spec,
        output=Output(name="logits", kind="logits", labels=("a", "b")),
    )


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_no_png_text_chunk_or_jpeg_exif_xmp_comment_reaches_the_stored_bytes(kind: str) -> None:
    original, canaries = (canary_png if kind == "png" else canary_jpeg)("G")
    prepared = prepare_image(original, GRAY, max_pixels=PIXELS)
    assert prepared.media_type == "image/png"
    assert_no_canary_in_png(prepared.raw, canaries)
    assert _png_chunks(prepared.raw) == [b"IHDR", b"IDAT", b"IEND"]
    stored = Image.open(io.BytesIO(prepared.raw))
    assert not stored.info and not stored.getexif()
    decoded = np.asarray(Image.open(io.BytesIO(original)).convert("L"))
    np.testing.assert_array_equal(np.asarray(stored), decoded)  # lossless, JPEG included
    digest = sha256_hex(prepared.tensor_npy())
    manifest = _manifest(GRAY)
    reproduced = reproduce_tensor(prepared.raw, manifest, expected_sha256=digest, max_pixels=PIXELS)
    np.testing.assert_array_equal(reproduced, prepared.tensor)
    assert prepare_image(prepared.raw, GRAY, max_pixels=PIXELS).raw == prepared.raw  # fixed point


def test_a_png_keeps_its_palette_and_transparency_and_nothing_else() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("PatientID", "XQZHPID")
    image = Image.fromarray((inputs.radiograph(64) * 255).astype(np.uint8)).convert("P")
    original = inputs.png_bytes(image, pnginfo=info, transparency=0, icc_profile=b"XQZHICC" * 8,
                                dpi=(300, 300))  # fmt: skip
    prepared = prepare_image(original, RGB, max_pixels=PIXELS)
    assert _png_chunks(prepared.raw) == [b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"]
    assert_no_canary_in_png(prepared.raw, ["XQZHPID", "XQZHICC"])
    before = prepare_image(inputs.png_bytes(image, transparency=0), RGB, max_pixels=PIXELS)
    np.testing.assert_array_equal(prepared.tensor, before.tensor)


def _png_chunks(data: bytes) -> list[bytes]:
    offset, kinds = 8, []
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        kinds.append(kind)
        offset += 12 + length
    return kinds
