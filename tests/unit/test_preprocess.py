"""Preprocessing of images, DICOM and tabular cases (pure functions, no I/O)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

from shared.bundles.manifest import Feature, ImageInput, TabularInput
from shared.preprocess.deidentify import deidentify
from shared.preprocess.dicom import sanitize_preamble
from shared.preprocess.errors import MAX_REPORTED, InputError, UnsupportedInput
from shared.preprocess.image import prepare_image, sniff_media_type
from shared.preprocess.tabular import prepare_tabular
from tests.support import inputs

GRAY = ImageInput(height=16, width=16, channels=1, mean=(0.0,), std=(1.0,))
RGB = ImageInput(height=16, width=16, channels=3, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    return inputs.png_bytes(Image.fromarray(array, mode=mode) if mode else Image.fromarray(array))


def test_formats_are_recognised_by_magic_bytes_not_names() -> None:
    assert sniff_media_type(inputs.gray_png()) == "image/png"
    assert sniff_media_type(inputs.jpeg()) == "image/jpeg"
    assert sniff_media_type(inputs.ct_small()) == "application/dicom"
    for fmt in ("TIFF", "GIF", "BMP"):
        with pytest.raises(UnsupportedInput):
            sniff_media_type(inputs.other_format(fmt))


def test_8bit_and_16bit_images_scale_by_their_bit_depth() -> None:
    flat8 = prepare_image(png(np.full((16, 16), 51, np.uint8)), GRAY, max_pixels=10**6)
    assert_allclose(flat8.tensor, np.full((1, 1, 16, 16), 0.2), atol=1e-6)
    flat16 = prepare_image(png(np.full((16, 16), 13107, np.uint16)), GRAY, max_pixels=10**6)
    assert_allclose(flat16.tensor, np.full((1, 1, 16, 16), 0.2), atol=1e-6)


def test_transparent_pixels_are_composited_over_black() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:8, :, 3] = 255  # top half opaque white, bottom half fully transparent white
    tensor = prepare_image(png(rgba, "RGBA"), GRAY, max_pixels=10**6).tensor[0, 0]
    assert_allclose(tensor[:8], 1.0, atol=1e-6)
    assert_allclose(tensor[8:], 0.0, atol=1e-6)


def test_resize_and_normalisation_and_channel_replication() -> None:
    prepared = prepare_image(png(np.full((40, 30), 255, np.uint8)), RGB, max_pixels=10**6)
    assert prepared.tensor.shape == (1, 3, 16, 16) and prepared.tensor.dtype == np.float32
    assert_allclose(prepared.tensor, 1.0, atol=1e-6)  # (1 - 0.5) / 0.5
    assert prepared.steps["resize"] == {"from": [40, 30], "to": [16, 16], "method": "bilinear"}
    assert prepared.steps["grayscale"] == "replicated to 3 channels"


def test_pixel_cap_is_checked_before_decoding() -> None:
    with pytest.raises(InputError, match="over the cap"):
        prepare_image(inputs.png_bomb(2000), GRAY, max_pixels=1_000_000)


def test_dicom_applies_modality_lut_and_inverts_monochrome1() -> None:
    import pydicom

    prepared = prepare_image(inputs.ct_small(), GRAY, max_pixels=10**6)
    assert prepared.steps["modality_lut"] == {"slope": 1.0, "intercept": -1024.0}
    dataset = pydicom.dcmread(io.BytesIO(inputs.ct_small()))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    inverted = prepare_image(buffer.getvalue(), GRAY, max_pixels=10**6)
    assert inverted.steps["inverted"] == "MONOCHROME1"
    assert_allclose(inverted.tensor, 1.0 - prepared.tensor, atol=1e-5)


def test_an_executable_preamble_is_refused_and_any_other_is_zeroed() -> None:
    for magic in (b"MZ\x90\x00", b"\x7fELF", b"#!/bin/sh"):
        with pytest.raises(InputError, match="executable"):
            sanitize_preamble(inputs.dicom_variant(preamble=magic))
    tiff = inputs.dicom_variant(preamble=b"II*\x00")
    stored, zeroed = sanitize_preamble(tiff)
    assert zeroed and stored == bytes(128) + tiff[128:]
    assert sanitize_preamble(stored) == (stored, False)
    prepared = prepare_image(tiff, GRAY, max_pixels=10**6)
    assert prepared.raw == deidentify(stored)[0] and "zeroed" in prepared.steps["preamble"]


def test_images_that_resizing_would_distort_over_4x_are_refused() -> None:
    assert prepare_image(inputs.gray_image(16, 64), GRAY, max_pixels=10**6).tensor.shape[-1] == 16
    for height, width in ((16, 65), (65, 16), (1, 100_000)):
        with pytest.raises(InputError, match="distort"):
            prepare_image(inputs.gray_image(height, width), GRAY, max_pixels=10**6)


def test_palette_colour_dicom_goes_through_its_colour_lut() -> None:
    prepared = prepare_image(inputs.palette_dicom(), RGB, max_pixels=10**6)
    assert prepared.steps["colour_lut"] == "PALETTE COLOR -> RGB"
    red, green, blue = prepared.tensor[0]
    assert not (np.allclose(red, green) and np.allclose(green, blue)), "colours, not indices"


def test_dicom_values_that_overflow_are_refused_not_diagnosed() -> None:
    with pytest.raises(InputError, match="non-finite"):
        prepare_image(inputs.dicom_rescaled("1e308"), GRAY, max_pixels=10**6)


def test_a_dicomdir_and_a_bad_attribute_value_are_bad_input() -> None:
    with pytest.raises(InputError, match="DICOMDIR"):
        prepare_image(inputs.pydicom_test_file("DICOMDIR"), GRAY, max_pixels=10**6)
    with pytest.raises(InputError, match="cannot be used"):
        prepare_image(inputs.pydicom_test_file("badVR.dcm"), GRAY, max_pixels=10**6)
    with pytest.raises(InputError, match="malformed DICOM"):
        prepare_image(inputs.dicom_nested_sequences(5000), GRAY, max_pixels=10**6)


SPEC = TabularInput(
    features=(
        Feature(name="age", minimum=0, maximum=120),
        Feature(name="dose", minimum=0.5, maximum=2.0),
    )
)


def test_tabular_case_becomes_a_row_in_manifest_order() -> None:
    prepared = prepare_tabular({"dose": 1, "age": 40.5}, SPEC)
    assert_allclose(prepared.tensor, [[40.5, 1.0]])
    assert prepared.raw == b'{"age":40.5,"dose":1.0}'


def test_tabular_errors_are_all_reported_with_their_fields() -> None:
    with pytest.raises(InputError) as caught:
        prepare_tabular({"age": True, "dose": 9.0, "weight": 1}, SPEC)
    reasons = {e["field"]: e["reason"] for e in caught.value.errors}
    assert set(reasons) == {"features.age", "features.dose", "features.weight"}
    assert "number" in reasons["features.age"]
    assert "outside the valid range" in reasons["features.dose"]
    assert reasons["features.weight"] == "unknown feature"


def test_a_flood_of_errors_is_reported_capped() -> None:
    with pytest.raises(InputError) as caught:
        prepare_tabular({f"x{i}": 1 for i in range(500)}, SPEC)
    assert len(caught.value.errors) == MAX_REPORTED
    assert caught.value.detail.endswith(f"and {502 - MAX_REPORTED} more")
    assert InputError.field("y" * 5000, "unknown").errors[0]["field"].endswith("…")
