"""Preprocessing of images, DICOM and tabular cases (pure functions, no I/O)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose
from PIL import Image

from bench import decode_memory
from shared.bundles.manifest import Feature, ImageInput, TabularInput
from shared.preprocess import png as png_module
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


def _filtered_png(raw: np.ndarray, bpp: int, *, bit_depth: int, colour_type: int,
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:  # fmt: skip
    """A PNG of the unfiltered rows ``raw`` (uint8, one row of bytes each), each row filtered
    with filter ``y % 5`` (None, Sub, Up, Average, Paeth)."""
    rows = raw.astype(np.int16)
    above = np.vstack([np.zeros_like(rows[:1]), rows[:-1]])
    left = np.hstack([np.zeros_like(rows[:, :bpp]), rows[:, :-bpp]])
    upper_left = np.hstack([np.zeros_like(above[:, :bpp]), above[:, :-bpp]])
    estimate = left + above - upper_left
    pa, pb, pc = np.abs(estimate - left), np.abs(estimate - above), np.abs(estimate - upper_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, upper_left))
    predictions = [0 * rows, left, above, (left + above) // 2, paeth]
    filters = np.arange(len(rows)) % 5
    filtered = np.stack([(rows[y] - predictions[f][y]) % 256 for y, f in enumerate(filters)])
    body = np.hstack([filters[:, None], filtered]).astype(np.uint8).tobytes()
    header = struct.pack(">IIBBBBB", raw.shape[1] * 8 // (bit_depth * _CHANNELS[colour_type]),
                         len(raw), bit_depth, colour_type, 0, 0, 0)  # fmt: skip
    chunks = [(b"IHDR", header), *extra, (b"IDAT", zlib.compress(body)), (b"IEND", b"")]
    return png_module.SIGNATURE + b"".join(
        struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b)) for k, b in chunks
    )


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


@pytest.mark.parametrize(
    ("bit_depth", "colour_type"),
    [(16, 6), (16, 2), (16, 4), (16, 0), (8, 6), (8, 2), (8, 4), (8, 0), (4, 3), (2, 0), (1, 0)],
)
def test_png_strips_decode_to_what_pillow_decodes_for_every_filter(
    bit_depth: int, colour_type: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(bit_depth * 10 + colour_type)
    width, height = 37, 53
    row_bytes = (width * _CHANNELS[colour_type] * bit_depth + 7) // 8
    raw = rng.integers(0, 256, (height, row_bytes), dtype=np.uint8)
    if row_bytes * 8 != width * _CHANNELS[colour_type] * bit_depth:
        raw[:, -1] &= 0xFF << (row_bytes * 8 - width * _CHANNELS[colour_type] * bit_depth) & 0xFF
    bpp = max(1, _CHANNELS[colour_type] * bit_depth // 8)
    palette = ((b"PLTE", rng.integers(0, 256, 48, dtype=np.uint8).tobytes()),)
    data = _filtered_png(raw, bpp, bit_depth=bit_depth, colour_type=colour_type,
                         extra=palette if colour_type == 3 else ())  # fmt: skip
    monkeypatch.setattr(png_module, "STRIP_BYTES", 5 * row_bytes)  # strips of 4 rows
    layout = png_module.layout(data)
    strips = list(png_module.strips(data, layout))
    assert len(strips) == 14
    whole = Image.open(io.BytesIO(data))
    whole.load()
    assert {s.mode for s in strips} == {whole.mode}
    np.testing.assert_array_equal(np.concatenate([np.asarray(s) for s in strips]), whole)


def test_a_png_is_stored_with_its_pixels_and_no_trailing_data() -> None:
    image = inputs.png_bytes(Image.fromarray((inputs.radiograph(64) * 255).astype(np.uint8)))
    layout = png_module.layout(image)
    start, end = layout.idat[0]
    inflated = zlib.decompress(image[start:end])
    idat = zlib.compress(inflated + b"XQZ hidden after the rows")
    sneaky = (image[: start - 8] + struct.pack(">I", len(idat)) + b"IDAT" + idat
              + struct.pack(">I", zlib.crc32(b"IDAT" + idat)) + image[end + 4 :])  # fmt: skip
    stored = prepare_image(sneaky, GRAY, max_pixels=10**6).raw
    stored_layout = png_module.layout(stored)
    assert zlib.decompress(stored[slice(*stored_layout.idat[0])]) == inflated
    assert prepare_image(image, GRAY, max_pixels=10**6).raw == image, "nothing to drop: as sent"
    assert prepare_image(stored, GRAY, max_pixels=10**6).raw == stored


def test_what_must_be_decoded_whole_is_refused_over_its_allowance() -> None:
    with pytest.raises(InputError, match="progressive JPEG of 6300x6300 needs 114 MiB"):
        prepare_image(decode_memory.jpeg_zeros(6300, progressive=True), RGB, max_pixels=10**8)
    interlaced = decode_memory.png_zeros(2100, 2100, interlaced=True)
    with pytest.raises(InputError, match="interlaced or EXIF-rotated PNG is decoded as a whole"):
        prepare_image(interlaced, RGB, max_pixels=10**8)
    with pytest.raises(InputError, match="deflated DICOM dataset inflates to over 21 MiB"):
        prepare_image(decode_memory.dicom_zeros(3400), GRAY, max_pixels=10**8)
    with pytest.raises(InputError, match="DICOM pixel data decodes to 21 MiB"):
        prepare_image(decode_memory.dicom_zeros(3300, deflated=False), GRAY, max_pixels=10**8)


def test_an_exif_rotated_png_is_stored_upright() -> None:
    image = Image.fromarray((inputs.radiograph(64)[:, :40] * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    prepared = prepare_image(inputs.png_bytes(image, exif=exif.tobytes()), GRAY, max_pixels=10**6)
    assert prepared.steps["exif_orientation"] == "applied"
    stored = Image.open(io.BytesIO(prepared.raw))
    assert stored.size == (64, 40) and not stored.getexif()
    np.testing.assert_array_equal(stored, image.transpose(Image.Transpose.ROTATE_270))


@pytest.mark.parametrize("kind", list(decode_memory.KINDS))
def test_decoding_a_hostile_upload_takes_at_most_64_mib(kind: str) -> None:
    """In a fresh process, per kind (see bench.decode_memory): the peak RSS above the RSS
    before preparing the upload."""
    result = decode_memory.measure(kind)
    assert float(result["peak_mib"]) <= decode_memory.CEILING_MIB, result  # type: ignore[arg-type]
