"""Bring an uploaded image (PNG, JPEG, DICOM) to an image model's input, recording every step.

Formats are recognised by their magic bytes, never by the client's declared content type.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from shared.bundles.manifest import ImageInput
from shared.preprocess.deidentify import deidentify
from shared.preprocess.dicom import decode_dicom, sanitize_preamble
from shared.preprocess.errors import InputError, UnsupportedInput
from shared.preprocess.prepared import PreparedInput

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_DICOM_MAGIC_OFFSET = 128
MAX_ASPECT_DISTORTION = 4.0
# Pillow keeps PNG text chunks in memory, up to 64 MiB of decompressed zTXt by default: a
# 64 KiB upload could cost 64 MiB. Text is never used here, so allow little of it.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * PngImagePlugin.MAX_TEXT_CHUNK


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
        pixels, steps = decode_dicom(data, max_pixels=max_pixels)
        steps["deidentification"] = deidentified
        if zeroed:
            steps["preamble"] = "zeroed in the stored file (it held non-DICOM bytes)"
    else:
        pixels, steps = _decode_raster(data, max_pixels=max_pixels)
    _check_aspect(pixels.shape[1], pixels.shape[2], spec)
    pixels = _to_channels(pixels, spec.channels, steps)
    resized = _resize(pixels, spec.height, spec.width)
    if pixels.shape[1:] != resized.shape[1:]:
        steps["resize"] = {
            "from": list(pixels.shape[1:]),
            "to": [spec.height, spec.width],
            "method": "bilinear",
        }
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


def _decode_raster(data: bytes, *, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode PNG/JPEG to float32 ``[C, H, W]`` in [0, 1] (C = 1 or 3), alpha over black."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            width, height = image.size
            if width * height > max_pixels:
                raise InputError.field(
                    "file", f"image has {width}x{height} pixels, over the cap of {max_pixels}"
                )
            image.load()
            transposed = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = f"decompression bomb refused (the cap is {max_pixels} pixels): {exc}"
        raise InputError.field("file", reason) from None
    except InputError:
        raise
    except UnidentifiedImageError:
        reason = "the image cannot be decoded: its PNG or JPEG structure is corrupt"
        raise InputError.field("file", reason) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, struct.error, … on bad data
        raise InputError.field("file", f"the image cannot be decoded: {exc}") from None
    steps: dict[str, Any] = {
        "decoder": f"Pillow {image.format}",
        "mode": image.mode,
        "size": [height, width],
    }
    if transposed is not None and transposed.size != image.size:
        steps["exif_orientation"] = "applied"
    image = transposed or image
    return _pixels_from_mode(image, steps), steps


def _pixels_from_mode(image: Image.Image, steps: dict[str, Any]) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if mode.startswith("I;16") or array.max() <= 65535 else float(array.max())
        steps["scale"] = f"/{scale:g} ({mode})"
        return (np.clip(array, 0, scale) / scale)[None].astype(np.float32)
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise InputError.field("file", "the image holds non-finite values")
        steps["scale"] = "min-max (float image)"
        return ((array - lo) / (hi - lo if hi > lo else 1.0))[None].astype(np.float32)
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


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    if pixels.shape[1:] == (height, width):
        return np.asarray(pixels, dtype=np.float32)
    planes = [
        np.asarray(
            Image.fromarray(plane.astype(np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for plane in pixels
    ]
    return np.stack(planes).astype(np.float32)
