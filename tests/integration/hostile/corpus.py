"""The hostile-input corpus, made on the fly: bombs, truncations, lying headers, polyglots,
renamed formats, malformed DICOM, oversized and malformed bodies.

Each case is sent as one ``POST /v1/predictions`` to an API configured with ``CAP`` and
``MAX_PIXELS``. The outcome is decided per case and asserted exactly: the 4xx and the field (or
phrase) its problem names, or 201 for an image the manifest says how to convert, with the
preprocessing step (``step=text``) that the record must show.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from bench import decode_memory
from tests.support import inputs
from tests.support.bundles import breast_cancer_case

CAP = 256 * 1024
MAX_PIXELS = 1_000_000
IMAGE_MODEL = "tiny-cnn"  # 1 x 32 x 32
TABULAR_MODEL = "tiny-gbt"


class Case(NamedTuple):
    make: Callable[[], dict[str, Any]]  # keyword arguments of ``httpx.Client.post``
    status: int
    named: str  # 4xx: field or phrase of the problem; 201: "step=text" of the preprocessing


def image(data: bytes, **fields: Any) -> dict[str, Any]:
    return {"files": {"file": ("upload", data)}, "data": {"model": IMAGE_MODEL, **fields}}


def declared(data: bytes, content_type: str, filename: str = "scan.png") -> dict[str, Any]:
    """An upload whose file part declares a (possibly lying) name and content type."""
    return {"files": {"file": (filename, data, content_type)}, "data": {"model": IMAGE_MODEL}}


def tabular(**changes: Any) -> dict[str, Any]:
    features: dict[str, Any] = breast_cancer_case(3)
    features.update(changes)
    return {"json": {"model": TABULAR_MODEL, "features": features}}


def raw_json(text: str | bytes) -> dict[str, Any]:
    content = text.encode() if isinstance(text, str) else text
    return {"content": content, "headers": {"content-type": "application/json"}}


def raw(content: bytes, content_type: str) -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": content_type}}


BOUNDARY = "hostile-boundary-7d3f"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, *, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def streamed(head: bytes, filler: int, tail: bytes, content_type: str) -> dict[str, Any]:
    """A body sent chunked, without Content-Length: only the streaming cap can stop it."""

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(filler // 65536):
            yield b"0" * 65536
        yield tail

    return {"content": chunks(), "headers": {"content-type": content_type}}


def _png_without_crc_check() -> bytes:
    data = bytearray(inputs.gray_png())
    data[30] ^= 0xFF  # a pixel-data byte: the IDAT CRC no longer matches
    return bytes(data)


def _png_with_trailing_pixel_data() -> bytes:
    data = inputs.gray_png()
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    idat = zlib.compress(zlib.decompress(data[start : start + length]) + b"XQZ-TRAILING" * 100)
    chunk = len(idat).to_bytes(4, "big") + b"IDAT" + idat
    crc = zlib.crc32(b"IDAT" + idat).to_bytes(4, "big")
    return data[: start - 8] + chunk + crc + data[start + length + 4 :]


def _over_cap_multipart_streamed() -> dict[str, Any]:
    head = (
        part("model", IMAGE_MODEL.encode())
        + (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        ).encode()
    )
    return streamed(head, 10 * CAP, f"\r\n--{BOUNDARY}--\r\n".encode(), MULTIPART)


HOSTILE: dict[str, Case] = {
    # --- decompression bombs and lying dimensions -------------------------------------------
    "PNG bomb 40000x40000 1-bit (190 KB)": Case(
        lambda: image(inputs.png_bomb(40_000, bit_depth=1)), 422, "file"
    ),
    "PNG bomb 16000x16000 8-bit (243 KB)": Case(
        lambda: image(inputs.png_bomb(16_000)), 422, "file"
    ),
    "PNG header claiming 100000x100000": Case(
        lambda: image(inputs.png_claiming(100_000, 100_000)), 422, "decompression bomb"
    ),
    "JPEG header claiming 65500x65500": Case(
        lambda: image(inputs.jpeg_claiming(65_500, 65_500)), 422, "decompression bomb"
    ),
    "JPEG 4000x4000, 16x the pixel cap (200 KB)": Case(
        lambda: image(inputs.gray_image(4000, 4000, fmt="JPEG")), 422, "over the cap"
    ),
    "PNG with 64 zTXt chunks of 1 MiB each": Case(
        lambda: image(inputs.png_with_text_bomb(64)), 422, "text chunks"
    ),
    # --- small files that decode large (all-zero pixels), at the pixel cap -----------------
    "RGBA PNG 1000x1000 of zeros (4 KB)": Case(
        lambda: image(decode_memory.png_zeros(1000, 1000)), 201, "alpha=composited over black"
    ),
    "16-bit RGBA PNG 1000x1000 of zeros": Case(
        lambda: image(decode_memory.png_zeros(1000, 1000, bit_depth=16)), 201, "alpha=composited"
    ),
    "16-bit grey PNG 1000x1000 of zeros": Case(
        lambda: image(decode_memory.png_zeros(1000, 1000, bit_depth=16, colour_type=0)),
        201,
        "scale=/65535 (I;16)",
    ),
    "interlaced RGBA PNG 1000x1000 (decoded whole, under its allowance)": Case(
        lambda: image(decode_memory.png_zeros(1000, 1000, interlaced=True)), 201, "stored=PNG"
    ),
    "progressive JPEG 1000x1000": Case(
        lambda: image(decode_memory.jpeg_zeros(1000, progressive=True)), 201, "decoder=Pillow JPEG"
    ),
    "deflated DICOM 1000x1000 of zeros": Case(
        lambda: image(decode_memory.dicom_zeros(1000)), 201, "decoder=pydicom"
    ),
    "deflated DICOM 3400x3400 of zeros (22 MiB inflated, 20 KB sent)": Case(
        lambda: image(decode_memory.dicom_zeros(3400)), 422, "inflates to over 21 MiB"
    ),
    "PNG with data hidden after its rows in the pixel stream": Case(
        lambda: image(_png_with_trailing_pixel_data()), 201, "stored=PNG"
    ),
    "PNG 1x100000": Case(lambda: image(inputs.gray_image(1, 100_000)), 422, "distort"),
    "PNG 100000x1": Case(lambda: image(inputs.gray_image(100_000, 1)), 422, "distort"),
    # --- broken files ---------------------------------------------------------------------
    "PNG with a corrupt IDAT CRC": Case(lambda: image(_png_without_crc_check()), 422, "file"),
    "PNG signature only": Case(lambda: image(b"\x89PNG\r\n\x1a\n"), 422, "corrupt"),
    "PNG header claiming 500x500, no pixel data": Case(
        lambda: image(inputs.png_claiming(500, 500)), 422, "truncated"
    ),
    "JPEG cut at 60 %": Case(lambda: image(inputs.jpeg(256)[:4000]), 422, "truncated"),
    "one byte": Case(lambda: image(b"\xff"), 415, "PNG, JPEG or DICOM"),
    # --- modes the manifest converts (201, the conversion recorded) ------------------------
    "16-bit grayscale PNG": Case(lambda: image(inputs.png16()), 201, "scale=I;16"),
    "palette PNG": Case(lambda: image(inputs.palette_png()), 201, "colour_conversion=P -> RGB"),
    "RGBA PNG": Case(lambda: image(inputs.rgba_png()), 201, "alpha=composited over black"),
    "grayscale+alpha PNG": Case(
        lambda: image(inputs.gray_image(64, 64, mode="LA")), 201, "alpha=composited"
    ),
    "1-bit PNG": Case(lambda: image(inputs.gray_image(64, 64, mode="1")), 201, "mode=1"),
    "CMYK JPEG": Case(
        lambda: image(inputs.gray_image(64, 64, fmt="JPEG", mode="CMYK")),
        201,
        "colour_conversion=CMYK -> RGB",
    ),
    "JPEG 1000x1000, at the pixel cap": Case(
        lambda: image(inputs.gray_image(1000, 1000, fmt="JPEG")), 201, "resize=1000"
    ),
    "PALETTE COLOR DICOM": Case(
        lambda: image(inputs.palette_dicom()),
        201,
        "colour_lut=PALETTE COLOR -> RGB",
    ),
    "DICOM with a TIFF preamble (dual personality)": Case(
        lambda: image(inputs.dicom_variant(preamble=b"II*\0\x08\0\0\0")), 201, "preamble=zeroed"
    ),
    # --- other formats, renamed, and lying part headers ----------------------------------
    "BMP renamed .png": Case(lambda: image(inputs.other_format("BMP")), 415, "PNG, JPEG or DICOM"),
    "WebP renamed .png": Case(
        lambda: image(inputs.other_format("WEBP")), 415, "PNG, JPEG or DICOM"
    ),
    "JPEG 2000 renamed .jpg": Case(
        lambda: image(inputs.other_format("JPEG2000")), 415, "PNG, JPEG or DICOM"
    ),
    "FITS renamed .dcm": Case(
        lambda: image(b"SIMPLE  =                    T".ljust(2880, b" ") + bytes(2880)),
        415,
        "PNG, JPEG or DICOM",
    ),
    "PDF renamed .png": Case(
        lambda: image(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"),
        415,
        "PNG, JPEG or DICOM",
    ),
    "SVG with a script": Case(
        lambda: image(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        415,
        "PNG, JPEG or DICOM",
    ),
    "TIFF declared image/png": Case(
        lambda: declared(inputs.other_format("TIFF"), "image/png"), 415, "PNG, JPEG or DICOM"
    ),
    "PNG declared application/dicom, named .exe": Case(
        lambda: declared(inputs.gray_png(), "application/dicom", "scan.exe"),
        201,
        "decoder=Pillow PNG",
    ),
    # --- DICOM ------------------------------------------------------------------------------
    "DICOM: garbage after the preamble": Case(
        lambda: image(bytes(128) + b"DICM" + bytes(range(256)) * 100), 422, "file"
    ),
    "DICOM: dataset truncated at 60 %": Case(
        lambda: image(inputs.ct_small()[: int(len(inputs.ct_small()) * 0.6)]), 422, "pixel data"
    ),
    "DICOM: pydicom's MR_truncated.dcm": Case(
        lambda: image(inputs.pydicom_test_file("MR_truncated.dcm")), 422, "pixel data"
    ),
    "DICOM: Rows/Columns 300 over 128x128 pixel data": Case(
        lambda: image(inputs.dicom_variant(rows=300)), 422, "pixel data"
    ),
    "DICOM: Rows 65535 x Columns 65535": Case(
        lambda: image(inputs.dicom_variant(rows=65_535)), 422, "over the cap"
    ),
    "DICOM: IS value '1A' (pydicom's badVR.dcm)": Case(
        lambda: image(inputs.pydicom_test_file("badVR.dcm")), 422, "cannot be used"
    ),
    "DICOM: Rescale Slope 1e308 (values overflow)": Case(
        lambda: image(inputs.dicom_rescaled("1e308")), 422, "non-finite"
    ),
    "DICOM: sequences nested 5000 deep": Case(
        lambda: image(inputs.dicom_nested_sequences(5000)), 422, "malformed DICOM"
    ),
    "DICOM: 'MZ' executable preamble": Case(
        lambda: image(inputs.dicom_variant(preamble=b"MZ\x90\0\x03\0\0\0")), 422, "executable"
    ),
    "DICOM: ELF executable preamble": Case(
        lambda: image(inputs.dicom_variant(preamble=b"\x7fELF\x02\x01\x01")), 422, "executable"
    ),
    "DICOMDIR (pydicom's)": Case(
        lambda: image(inputs.pydicom_test_file("DICOMDIR")), 422, "DICOMDIR"
    ),
    "DICOM: two frames": Case(
        lambda: image(inputs.pydicom_test_file("SC_rgb_rle_2frame.dcm")), 422, "multi-frame"
    ),
    "DICOM: JPEG-LS without a decoder": Case(
        lambda: image(inputs.pydicom_test_file("MR_small_jpeg_ls_lossless.dcm")),
        422,
        "cannot be decoded",
    ),
    # --- bodies -------------------------------------------------------------------------
    "multipart 10x over the cap, chunked (no Content-Length)": Case(
        _over_cap_multipart_streamed, 413, "limit"
    ),
    "JSON 10x over the cap, chunked (no Content-Length)": Case(
        lambda: streamed(b'{"model": "', 10 * CAP, b'"}', "application/json"), 413, "limit"
    ),
    "multipart with 2000 text parts": Case(
        lambda: raw(multipart(*[part("methods", b"x")] * 2000), MULTIPART), 422, "body"
    ),
    "multipart with 1000 file parts": Case(
        lambda: raw(
            multipart(part("model", b"tiny-cnn"), *[part("file", b"x", filename="f")] * 1000),
            MULTIPART,
        ),
        422,
        "body",
    ),
    "multipart without a boundary": Case(
        lambda: raw(multipart(part("model", b"tiny-cnn")), "multipart/form-data"), 422, "body"
    ),
    "multipart: a 60 KB field name": Case(
        lambda: raw(multipart(part("x" * 60_000, b"1")), MULTIPART), 422, "body"
    ),
    "multipart: a 3 KB unknown field name, clipped in the problem": Case(
        lambda: raw(multipart(part("x" * 3_000, b"1")), MULTIPART), 422, "unknown form field"
    ),
    "multipart: model sent as a file": Case(
        lambda: raw(multipart(part("model", b"tiny-cnn", filename="m.txt")), MULTIPART),
        422,
        "model",
    ),
    # --- JSON -------------------------------------------------------------------------------
    "JSON: top-level array": Case(lambda: raw_json("[1, 2, 3]"), 422, "body"),
    "JSON: a string": Case(lambda: raw_json('"tiny-gbt"'), 422, "body"),
    "JSON: not UTF-8": Case(lambda: raw_json(b'{"model": "\xff\xfe"}'), 422, "body"),
    "JSON: 10000 unknown features": Case(
        lambda: tabular(**{f"f{i}": 1.0 for i in range(10_000)}), 422, "more"
    ),
    "JSON: 1e999 (overflows to infinity)": Case(
        lambda: raw_json(
            json.dumps(tabular()["json"]).replace(
                str(breast_cancer_case(3)["mean area"]), "1e999", 1
            )
        ),
        422,
        "features.mean area",
    ),
    "JSON: a 5000-digit integer": Case(
        lambda: raw_json(
            json.dumps(tabular()["json"]).replace(
                str(breast_cancer_case(3)["mean area"]), "9" * 5000, 1
            )
        ),
        422,
        "body",
    ),
    "JSON: null features": Case(
        lambda: {"json": {"model": TABULAR_MODEL, "features": None}}, 422, "features"
    ),
    "JSON: 1000 methods": Case(
        lambda: {"json": {**tabular()["json"], "methods": ["tree_shap"] * 1000}}, 422, "methods"
    ),
    "JSON: 200 KB model name": Case(
        lambda: {"json": {**tabular()["json"], "model": "m" * 200_000}}, 422, "model"
    ),
    "JSON: feature nested 100000 deep": Case(
        lambda: raw_json(
            '{"model": "tiny-gbt", "features": {"mean area": '
            + "[" * 100_000
            + "]" * 100_000
            + "}}"
        ),
        422,
        "body",
    ),
    # --- content types and headers ----------------------------------------------------------
    "form-urlencoded": Case(
        lambda: raw(b"model=tiny-gbt", "application/x-www-form-urlencoded"), 415, "multipart"
    ),
    "application/xml": Case(lambda: raw(b"<model/>", "application/xml"), 415, "multipart"),
    "a raw PNG body": Case(lambda: raw(inputs.gray_png(), "image/png"), 415, "multipart"),
    "multipart/mixed": Case(
        lambda: raw(multipart(part("model", b"tiny-cnn")), f"multipart/mixed; boundary={BOUNDARY}"),
        415,
        "multipart",
    ),
    "empty Idempotency-Key (was a 500 on its second use)": Case(
        lambda: {**tabular(), "headers": {"Idempotency-Key": ""}}, 422, "idempotency-key"
    ),
    "Idempotency-Key of 10 KB": Case(
        lambda: {**tabular(), "headers": {"Idempotency-Key": "k" * 10_000}},
        422,
        "idempotency-key",
    ),
}
