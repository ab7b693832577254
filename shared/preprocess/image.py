"""Bring an uploaded image (PNG, JPEG, DICOM) to an image model's input, recording every step.

Formats are recognised by their magic bytes, never by the client's declared content type. The
tensor is always derived from the bytes that are stored (a metadata-free PNG, or the
de-identified DICOM), as the worker derives it again later; the image is decoded and resized a
strip of rows at a time, so the memory a request takes does not grow with the image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from shared.bundles.manifest import ImageInput
from shared.preprocess import png
from shared.preprocess.deidentify import deidentify
from shared.preprocess.dicom import dicom_strips, sanitize_preamble
from shared.preprocess.errors import InputError, UnsupportedInput
from shared.preprocess.prepared import PreparedInput
from shared.preprocess.raster import stored_png
from shared.preprocess.resize import StripResizer

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_DICOM_MAGIC_OFFSET = 128
MAX_ASPECT_DISTORTION = 4.0


def sniff_media_type(data: bytes) -> str:
    if not data:
        raise InputError.field("file", "the file is empty")
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "application/dicom"
    raise UnsupportedInput("the file is not PNG, JPEG or DICOM (Part 10 with preamble)")


def prepare_image(data: bytes, spec: ImageInput, *, max_pixels: int) -> PreparedInput:
    media_type = sniff_media_type(data)
    if media_type == "application/dicom":
        data, zeroed = sanitize_preamble(data)
        data, deidentified = deidentify(data)  # what is stored, and decoded, has no identity
        (height, width), strips, steps = dicom_strips(data, max_pixels=max_pixels)
        steps["deidentification"] = deidentified
        if zeroed:
            steps["preamble"] = "zeroed in the stored file (it held non-DICOM bytes)"
    else:
        data, steps = stored_png(data, spec, max_pixels=max_pixels)
        media_type = "image/png"
        (height, width), strips = _png_strips(data, steps)
    _check_aspect(height, width, spec)
    resizer = StripResizer(
        channels=spec.channels, height=height, width=width, to=(spec.height, spec.width)
    )
    for strip in strips:
        resizer.add(_to_channels(strip, spec.channels, steps))
    resized = resizer.result()
    if (height, width) != (spec.height, spec.width):
        steps["resize"] = {"from": [height, width], "to": [spec.height, spec.width],
                           "method": "bilinear"}  # fmt: skip
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    tensor = resized - mean
    tensor /= std
    tensor = tensor[None]
    if not np.isfinite(tensor).all():
        raise InputError.field("file", "the image yields non-finite values (NaN or infinity)")
    steps["normalise"] = {"mean": list(spec.mean), "std": list(spec.std)}
    return PreparedInput(kind="image", media_type=media_type, raw=data, tensor=tensor, steps=steps)


def _check_aspect(height: int, width: int, spec: ImageInput) -> None:
    """Refuse an image that resizing would distort more than ``MAX_ASPECT_DISTORTION``-fold: a
    diagnosis of a 1 x 100000 strip squeezed into the model's square is not a diagnosis."""
    distortion = (width / height) / (spec.width / spec.height)
    if not 1 / MAX_ASPECT_DISTORTION <= distortion <= MAX_ASPECT_DISTORTION:
        raise InputError.field(
            "file",
            f"image is {height}x{width} (height x width); the model takes {spec.height}x"
            f"{spec.width} and resizing would distort it {max(distortion, 1 / distortion):.0f}-"
            f"fold (at most {MAX_ASPECT_DISTORTION:g}-fold is accepted)",
        )


def _png_strips(
    stored: bytes, steps: dict[str, Any]
) -> tuple[tuple[int, int], Iterator[np.ndarray]]:
    """float32 ``[C, h, W]`` strips in [0, 1] (C = 1 or 3) of the stored PNG, alpha over black."""
    layout = png.layout(stored)

    def pixels() -> Iterator[np.ndarray]:
        try:
            for image in png.strips(stored, layout):
                yield _pixels_from_mode(image, steps)
        except InputError:
            raise
        except Exception as exc:  # Pillow raises OSError, ValueError, … on bad data
            raise InputError.field("file", f"the image cannot be decoded: {exc}") from None

    return (layout.height, layout.width), pixels()


def _pixels_from_mode(image: Image.Image, steps: dict[str, Any]) -> np.ndarray:
    mode = image.mode
    if mode.startswith("I;16"):
        array = np.asarray(image, dtype=np.float64)
        steps["scale"] = f"/65535 ({mode})"
        return (np.clip(array, 0, 65535.0) / 65535.0)[None].astype(np.float32)
    if mode in ("1", "L"):
        steps["scale"] = "/255"
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[None]
    has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
        steps["alpha"] = "composited over black"
    rgb = image.convert("RGB")
    if mode not in ("RGB", "RGBA"):
        steps["colour_conversion"] = f"{mode} -> RGB"
    steps["scale"] = "/255"
    return np.moveaxis(np.asarray(rgb, dtype=np.float32) / 255.0, -1, 0)


def _to_channels(pixels: np.ndarray, channels: int, steps: dict[str, Any]) -> np.ndarray:
    if pixels.shape[0] == channels:
        return pixels
    if channels == 1:
        weights = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)[:, None, None]
        steps["grayscale"] = "ITU-R 601-2 luma"
        return (pixels * weights).sum(axis=0, keepdims=True)
    steps["grayscale"] = "replicated to 3 channels"
    return np.repeat(pixels, channels, axis=0)
