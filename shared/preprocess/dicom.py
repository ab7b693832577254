"""DICOM decoding with pydicom: modality LUT, then VOI LUT or window, then scaling to [0, 1]."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from shared.preprocess.errors import InputError


def decode_dicom(data: bytes, *, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Return float32 ``[1, H, W]`` in [0, 1] and the record of the transforms applied."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, TypeError, KeyError, OSError) as exc:
        raise InputError.field("file", f"malformed DICOM: {exc}") from None
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
        syntax = getattr(dataset.file_meta, "TransferSyntaxUID", "unknown")
        raise InputError.field(
            "file", f"DICOM pixel data cannot be decoded (transfer syntax {syntax}): {exc}"
        ) from None
    steps: dict[str, Any] = {
        "decoder": f"pydicom {pydicom.__version__}",
        "photometric": photometric,
        "bits_stored": int(dataset.get("BitsStored", 0) or 0),
        "size": [rows, columns],
    }
    if pixels.ndim == 3 and photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        return _scale_rgb(pixels, steps)
    if pixels.ndim != 2:
        raise InputError.field("file", f"unsupported DICOM pixel layout {pixels.shape}")
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    steps["modality_lut"] = _modality_record(dataset)
    if "WindowCenter" in dataset and "WindowWidth" in dataset or "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset, index=0).astype(np.float64)
        steps["voi"] = _voi_record(dataset)
    else:
        steps["voi"] = "none in file: min-max of modality values"
    lo, hi = float(values.min()), float(values.max())
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
