"""Input files for tests, made on the fly (no downloads): images in many modes, DICOM files."""

from __future__ import annotations

import io

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


def png_bomb(side: int) -> bytes:
    """A real PNG of ``side`` x ``side`` zero pixels: tiny compressed, huge decoded."""
    return png_bytes(Image.new("L", (side, side)), optimize=True)


def ct_small() -> bytes:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None, "pydicom ships CT_small.dcm"
    with open(path, "rb") as handle:
        return handle.read()


def dicom_variant(*, drop_pixels: bool = False, rows: int | None = None) -> bytes:
    import pydicom

    dataset = pydicom.dcmread(io.BytesIO(ct_small()))
    if drop_pixels:
        del dataset.PixelData
    if rows is not None:
        dataset.Rows = rows
        dataset.Columns = rows
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
