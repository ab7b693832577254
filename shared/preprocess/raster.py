"""PNG and JPEG uploads made into the PNG that is stored: the decoded pixels, no metadata.

Text chunks (tEXt, zTXt, iTXt), EXIF, XMP, ICC profiles and JPEG comments can carry a patient's
name; none of them reaches the stored file. A PNG keeps its pixels exactly (its rows, re-
compressed, with only the chunks that change decoded pixels: PLTE, tRNS). A JPEG is stored as
the PNG of the pixels it decoded to (lossless, so the stored file yields the same tensor); one
that would decode to more than ``WHOLE_IMAGE_BYTES`` is decoded with DCT scaling (Pillow
``draft``: 1/2, 1/4 or 1/8) to the smallest size still at least the model's. What must be
decoded as a whole (a JPEG after scaling; an interlaced or EXIF-rotated PNG) is refused over
``WHOLE_IMAGE_BYTES``; a plain PNG is read in strips of rows, however large
(:mod:`shared.preprocess.png`).
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

from PIL import ExifTags, Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from shared.bundles.manifest import ImageInput
from shared.preprocess import png
from shared.preprocess.errors import InputError

WHOLE_IMAGE_BYTES = 16 * 1024 * 1024
PROGRESSIVE_JPEG_BYTES = 48 * 1024 * 1024  # libjpeg keeps every DCT coefficient of those
_PILLOW_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2}  # any other mode: 4 per pixel
_STORED_MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")
_ROTATING = (5, 6, 7, 8)  # EXIF orientations that swap width and height
STORED = "PNG of the decoded pixels, no metadata (text, EXIF, XMP, ICC, comments)"
# Pillow keeps PNG text chunks in memory, up to 64 MiB of decompressed zTXt by default: a
# 64 KiB upload could cost 64 MiB. Text is never used here, so allow little of it.
PngImagePlugin.MAX_TEXT_MEMORY = 4 * PngImagePlugin.MAX_TEXT_CHUNK


def stored_png(data: bytes, spec: ImageInput, *, max_pixels: int) -> tuple[bytes, dict[str, Any]]:
    """The PNG to store for a PNG or JPEG upload, and the record of what was done to it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _stored(data, spec, max_pixels)
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


def _stored(data: bytes, spec: ImageInput, max_pixels: int) -> tuple[bytes, dict[str, Any]]:
    image: Image.Image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    width, height = image.size
    if width * height > max_pixels:
        raise InputError.field(
            "file", f"image has {width}x{height} pixels, over the cap of {max_pixels}"
        )
    steps: dict[str, Any] = {
        "decoder": f"Pillow {image.format}",
        "mode": image.mode,
        "size": [height, width],
    }
    if image.format == "PNG":
        layout = png.layout(data)
        rotated = layout.has_text and _orientation(png.orientation_probe(data, layout)) != 1
        if not (layout.interlaced or rotated):
            steps["stored"] = STORED
            return png.metadata_free(data, layout), steps
    else:
        _draft(image, spec, steps)
    _check_whole(image, "an interlaced or EXIF-rotated PNG" if image.format == "PNG" else "")
    image.load()
    transposed = ImageOps.exif_transpose(image)
    if transposed is not None and transposed.size != image.size:
        steps["exif_orientation"] = "applied"
    image = transposed or image
    if image.mode not in _STORED_MODES:
        steps["colour_conversion"] = f"{image.mode} -> RGB"
        image = image.convert("RGB")
    steps["stored"] = STORED
    return _png_of(image), steps


def _draft(image: Image.Image, spec: ImageInput, steps: dict[str, Any]) -> None:
    """Decode a JPEG at 1/2, 1/4 or 1/8 scale where that still covers the model's input."""
    rotated = _orientation(image) in _ROTATING
    wanted = (spec.height, spec.width) if rotated else (spec.width, spec.height)
    layers = getattr(image, "layer", [])  # (id, horizontal, vertical sampling, table)
    if layers and image.info.get("progressive"):
        blocks = sum(
            math.ceil(image.size[0] * h / 8 / max(c[1] for c in layers))
            * math.ceil(image.size[1] * v / 8 / max(c[2] for c in layers))
            for _, h, v, _ in layers
        )
        if blocks * 128 > PROGRESSIVE_JPEG_BYTES:
            raise InputError.field(
                "file",
                f"a progressive JPEG of {image.size[0]}x{image.size[1]} needs "
                f"{blocks * 128 / 2**20:.0f} MiB to decode, over the "
                f"{PROGRESSIVE_JPEG_BYTES // 2**20} MiB allowed: send a baseline JPEG or a PNG",
            )
    before = image.size
    if _pillow_bytes(image) <= WHOLE_IMAGE_BYTES:
        return  # decoded at full size, as earlier releases did
    image.draft(image.mode, wanted)
    if image.size != before:
        steps["draft"] = {
            "scale": f"1/{getattr(image, 'decoderconfig', (1,))[0]}",
            "to": [image.size[1], image.size[0]],
        }


def _pillow_bytes(image: Image.Image) -> int:
    return image.size[0] * image.size[1] * _PILLOW_BYTES.get(image.mode, 4)


def _check_whole(image: Image.Image, what: str) -> None:
    needed = _pillow_bytes(image)
    if needed > WHOLE_IMAGE_BYTES:
        raise InputError.field(
            "file",
            f"{what or 'the JPEG'} is decoded as a whole: {image.size[0]}x{image.size[1]} "
            f"{image.mode} needs {needed / 2**20:.0f} MiB, over the "
            f"{WHOLE_IMAGE_BYTES // 2**20} MiB allowed"
            + ("; send it non-interlaced and upright" if what else ""),
        )


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) else 1


def _png_of(image: Image.Image) -> bytes:
    """PNG bytes of ``image`` with nothing from its source file but its transparency."""
    params: dict[str, Any] = {}
    if "transparency" in image.info:
        params["transparency"] = image.info["transparency"]
    image.info = {}
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    saved = buffer.getvalue()
    return png.metadata_free(saved, png.layout(saved))  # the same bytes a re-submission gets
