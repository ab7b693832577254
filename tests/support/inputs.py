"""Input files for tests, made on the fly (no downloads): images in many modes, DICOM files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def radiograph(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    lungs = np.exp(-(((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2)) + np.exp(
        -(((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2)
    )
    image = 0.7 - 0.4 * lungs + 0.05 * rng.standard_normal((size, size))
    return np.clip(image, 0, 1)


def png_bytes(image: Image.Image, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def gray_png(size: int = 64) -> bytes:
    return png_bytes(Image.fromarray((radiograph(size) * 255).astype(np.uint8)))


def png16(size: int = 64) -> bytes:
    array = (radiograph(size) * 65535).astype(np.uint16)
    return png_bytes(Image.fromarray(array))


def rgba_png(size: int = 64) -> bytes:
    gray = (radiograph(size) * 255).astype(np.uint8)
    rgba = np.stack([gray, gray, gray, np.full_like(gray, 200)], axis=-1)
    return png_bytes(Image.fromarray(rgba, mode="RGBA"))


def palette_png(size: int = 64) -> bytes:
    return png_bytes(Image.fromarray((radiograph(size) * 255).astype(np.uint8)).convert("P"))


def jpeg(size: int = 64, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((radiograph(size) * 255).astype(np.uint8)).convert(mode).save(
        buffer, format="JPEG", quality=90
    )
    return buffer.getvalue()


def other_format(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((radiograph(32) * 255).astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_bomb(side: int, *, bit_depth: int = 8) -> bytes:
    """A real, valid grayscale PNG of ``side`` x ``side`` zero pixels: tiny compressed, huge
    decoded. Written chunk by chunk, so making it never holds the decoded image in memory."""
    row = bytes(1 + (side * bit_depth + 7) // 8)  # filter byte 0, then zero pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return _png_file(side, side, bit_depth, [(b"IDAT", idat)])


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but that holds almost no pixel data."""
    idat = zlib.compress(bytes(64))
    return _png_file(width, height, 8, [(b"IDAT", idat)])


def png_with_text_bomb(chunks: int, megabytes_each: int = 1) -> bytes:
    """A small valid PNG carrying ``chunks`` zTXt chunks that each inflate to ``megabytes_each``
    MiB (Pillow keeps decompressed text in memory)."""
    text = zlib.compress(bytes(megabytes_each * 1024 * 1024), 9)
    ztxt = [(b"zTXt", b"Comment%d\0\0" % n + text) for n in range(chunks)]  # distinct keys
    row = bytes(1 + 32)
    return _png_file(32, 32, 8, [*ztxt, (b"IDAT", zlib.compress(row * 32))])


def _png_file(width: int, height: int, bit_depth: int, chunks: list[tuple[bytes, bytes]]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)  # grayscale
    body = b"".join(chunk(kind, data) for kind, data in chunks)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b"")


def gray_image(height: int, width: int, *, fmt: str = "PNG", mode: str = "L") -> bytes:
    """A smooth gradient of any shape (compresses well, so large sizes stay small)."""
    ramp = np.add.outer(np.arange(height) / max(height, 1), np.arange(width) / max(width, 1))
    image = Image.fromarray((ramp * 127).astype(np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is patched to claim ``width`` x ``height``."""
    data = bytearray(jpeg(16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def ct_small() -> bytes:
    return pydicom_test_file("CT_small.dcm")


def dicom_variant(
    *, drop_pixels: bool = False, rows: int | None = None, preamble: bytes | None = None
) -> bytes:
    """CT_small changed: without pixels, with absurd Rows/Columns, or with another preamble."""
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(ct_small()))
    if drop_pixels:
        del dataset.PixelData
    if rows is not None:
        dataset.Rows = rows
        dataset.Columns = rows
    if preamble is not None:
        dataset.preamble = preamble.ljust(128, b"\0")
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def pydicom_test_file(name: str) -> bytes:
    """One of the files that pydicom ships (never downloaded)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom ships {name}"
    with open(path, "rb") as handle:
        return bytes(handle.read())


def dicom_nested_sequences(depth: int) -> bytes:
    """CT_small with a private sequence nested ``depth`` levels deep (undefined lengths)."""
    data = ct_small()
    level = struct.pack("<HH", 0x0009, 0x1010) + b"SQ\0\0" + b"\xff" * 4
    level += struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)  # item of undefined length
    close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    pixels = data.index(struct.pack("<HH", 0x7FE0, 0x0010))
    return data[:pixels] + level * depth + close * depth + data[pixels:]


def palette_dicom() -> bytes:
    """pydicom's PALETTE COLOR example (350x800), subsampled to 175x400 so it stays small."""
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(pydicom_test_file("examples_palette.dcm")))
    pixels = dataset.pixel_array[::2, ::2].copy()
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def dicom_rescaled(slope: str) -> bytes:
    """CT_small with another Rescale Slope (e.g. "1e308", which overflows to infinity)."""
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(ct_small()))
    dataset.RescaleSlope = slope
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
