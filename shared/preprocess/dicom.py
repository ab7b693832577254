"""DICOM decoding with pydicom: modality LUT, then VOI LUT or window, then scaling to [0, 1]."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from shared.preprocess.errors import InputError

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
PREAMBLE_BYTES = 128
_RGB = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT")
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2", "")
_EXECUTABLES = {
    b"MZ": "a Windows executable (MZ)",
    b"\x7fELF": "an ELF executable",
    b"\xcf\xfa\xed\xfe": "a Mach-O executable",
    b"\xce\xfa\xed\xfe": "a Mach-O executable",
    b"\xca\xfe\xba\xbe": "a Mach-O universal binary or Java class",
    b"#!": "a script (#!)",
}


def sanitize_preamble(data: bytes) -> tuple[bytes, bool]:
    """Refuse an executable in the 128-byte preamble; zero any other content there.

    The standard lets the preamble hold anything, which makes DICOM/executable polyglots
    possible (CVE-2019-11687): a file that a viewer opens as an image and Windows runs as a
    program. An executable header there is refused; other bytes (e.g. a TIFF header of a
    dual-personality file) are zeroed, so the archive stores DICOM and nothing else.
    Returns the bytes to store and whether the preamble was zeroed.
    """
    preamble = data[:PREAMBLE_BYTES]
    for magic, what in _EXECUTABLES.items():
        if preamble.startswith(magic):
            raise InputError.field(
                "file", f"the DICOM preamble holds {what}: refused (executable polyglot)"
            )
    if not any(preamble):
        return data, False
    return bytes(PREAMBLE_BYTES) + data[PREAMBLE_BYTES:], True


def read_dicom(data: bytes) -> Any:
    """Parse a Part 10 file (values stay undecoded until read); any failure is bad input."""
    import pydicom

    try:
        return pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # InvalidDicomError, EOFError, struct.error, RecursionError, …
        raise InputError.field("file", f"malformed DICOM: {exc}") from None


def decode_dicom(data: bytes, *, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Return float32 ``[C, H, W]`` in [0, 1] (C = 1 or 3) and the record of the transforms.

    pydicom raises many exception types on malformed files, and bad values surface only when
    an attribute is read, so every failure after the size checks is reported as bad input.
    """
    dataset = read_dicom(data)
    try:
        return _decode(dataset, max_pixels=max_pixels)
    except InputError:
        raise
    except Exception as exc:  # e.g. an IS value "1A", a broken LUT, inconsistent pixel data
        reason = f"the DICOM file cannot be used: {type(exc).__name__}: {exc}"
        raise InputError.field("file", reason) from None


def _decode(dataset: Any, *, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    meta = getattr(dataset, "file_meta", None)
    if meta is not None and meta.get("MediaStorageSOPClassUID") == DICOMDIR_SOP_CLASS:
        raise InputError.field(
            "file", "a DICOMDIR (media directory) holds no image: send an image file"
        )
    if "PixelData" not in dataset:
        raise InputError.field("file", "the DICOM file has no pixel data")
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if rows <= 0 or columns <= 0:
        raise InputError.field("file", "the DICOM file has no valid Rows/Columns")
    if rows * columns * frames > max_pixels:
        raise InputError.field(
            "file", f"DICOM has {frames}x{rows}x{columns} pixels, over the cap of {max_pixels}"
        )
    if frames != 1:
        raise InputError.field("file", f"multi-frame DICOM ({frames} frames): send one frame")
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    try:
        pixels = dataset.pixel_array
    except Exception as exc:  # pydicom raises many types for bad or unsupported pixel data
        syntax = getattr(meta, "TransferSyntaxUID", "unknown")
        raise InputError.field(
            "file", f"DICOM pixel data cannot be decoded (transfer syntax {syntax}): {exc}"
        ) from None
    steps: dict[str, Any] = {
        "decoder": f"pydicom {pydicom.__version__}",
        "photometric": photometric,
        "bits_stored": int(dataset.get("BitsStored", 0) or 0),
        "size": [rows, columns],
    }
    if pixels.ndim == 3 and photometric in _RGB:
        return _scale_rgb(pixels, steps)
    if pixels.ndim == 2 and photometric == "PALETTE COLOR":
        steps["colour_lut"] = "PALETTE COLOR -> RGB"
        return _scale_rgb(apply_color_lut(pixels, dataset), steps)
    if pixels.ndim != 2 or photometric not in _MONOCHROME:
        raise InputError.field(
            "file", f"unsupported DICOM pixels: {photometric or 'no'} photometric, {pixels.shape}"
        )
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    steps["modality_lut"] = _modality_record(dataset)
    if "WindowCenter" in dataset and "WindowWidth" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset, index=0).astype(np.float64)
        steps["voi"] = _voi_record(dataset)
    else:
        steps["voi"] = "none in file: min-max of modality values"
    lo, hi = float(values.min()), float(values.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError.field("file", "the DICOM's rescale or window yields non-finite values")
    scaled = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    steps["scale"] = {"min": lo, "max": hi}
    if photometric == "MONOCHROME1":
        scaled = 1.0 - scaled
        steps["inverted"] = "MONOCHROME1"
    return scaled[None].astype(np.float32), steps


def _scale_rgb(pixels: np.ndarray, steps: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    maximum = float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind in "ui" else 1.0
    steps["scale"] = f"/{maximum:g}"
    return np.moveaxis(pixels.astype(np.float32) / maximum, -1, 0), steps


def _modality_record(dataset: Any) -> dict[str, Any] | str:
    if "ModalityLUTSequence" in dataset:
        return "ModalityLUTSequence"
    return {
        "slope": float(dataset.get("RescaleSlope", 1) or 1),
        "intercept": float(dataset.get("RescaleIntercept", 0) or 0),
    }


def _voi_record(dataset: Any) -> dict[str, Any] | str:
    if "VOILUTSequence" in dataset:
        return "VOILUTSequence[0]"
    center, width = dataset.WindowCenter, dataset.WindowWidth
    return {
        "window_center": _first(center),
        "window_width": _first(width),
        "function": str(dataset.get("VOILUTFunction", "LINEAR")),
    }


def _first(value: Any) -> float:
    """Window attributes may be multi-valued; the first pair is the default view."""
    is_sequence = hasattr(value, "__len__") and not isinstance(value, str)
    return float(value[0]) if is_sequence else float(value)
