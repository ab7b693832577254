"""DICOM decoding with pydicom: modality LUT, then VOI LUT or window, then scaling to [0, 1]."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from shared.preprocess.errors import InputError

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
PREAMBLE_BYTES = 128
MAX_PIXEL_BYTES = 20 * 1024 * 1024  # what an uncompressed upload at the default body cap holds
MAX_ATTRIBUTE_BYTES = 1024 * 1024  # allowed besides the pixels in a deflated dataset
STRIP_PIXELS = 256 * 1024  # pixels converted at a time (float64: 2 MiB a strip)
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
    """Parse a Part 10 file (values stay undecoded until read); any failure is bad input.

    A deflated dataset is inflated here, its size checked first, into one buffer of the exact
    size (pydicom would grow its buffer as it inflates: up to twice the inflated size)."""
    import pydicom

    try:
        return _read_deflated(data) or pydicom.dcmread(io.BytesIO(data))
    except InputError:
        raise
    except Exception as exc:  # InvalidDicomError, EOFError, struct.error, RecursionError, …
        raise InputError.field("file", f"malformed DICOM: {exc}") from None


def check_pixel_bytes(dataset: Any) -> None:
    """Refuse pixel data that decodes to more than ``MAX_PIXEL_BYTES`` (before decoding it).
    Unreadable sizes are left to the decoder to report."""
    try:
        rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        samples = int(dataset.get("SamplesPerPixel", 1) or 1)
        allocated = int(dataset.get("BitsAllocated", 8) or 8)
    except (TypeError, ValueError):
        return
    needed = rows * columns * frames * samples * ((allocated + 7) // 8)
    if needed > MAX_PIXEL_BYTES:
        raise InputError.field(
            "file",
            f"DICOM pixel data decodes to {needed / 2**20:.0f} MiB ({rows}x{columns}, "
            f"{samples} x {allocated} bits), over the {MAX_PIXEL_BYTES // 2**20} MiB allowed",
        )


def _read_deflated(data: bytes) -> Any:
    """The dataset of a Deflated Explicit VR Little Endian file; None for any other syntax."""
    from pydicom.dataset import FileDataset
    from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    source = io.BytesIO(data)
    preamble = read_preamble(source, False)
    meta = _read_file_meta_info(source)
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return None
    start, limit, size = source.tell(), MAX_PIXEL_BYTES + MAX_ATTRIBUTE_BYTES, 0
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending = data[start:]
    while pending and not inflater.eof:
        size += len(inflater.decompress(pending, 1024 * 1024))
        pending = inflater.unconsumed_tail
        if size > limit:
            raise InputError.field(
                "file", f"the deflated DICOM dataset inflates to over {limit // 2**20} MiB"
            )
    inflated = zlib.decompress(data[start:], -zlib.MAX_WBITS, max(size, 1))
    dataset = read_dataset(io.BytesIO(inflated), is_implicit_VR=False, is_little_endian=True)
    return FileDataset("", dataset, preamble=preamble, file_meta=meta,
                       is_implicit_VR=False, is_little_endian=True)  # fmt: skip


def decode_dicom(data: bytes, *, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Return float32 ``[C, H, W]`` in [0, 1] (C = 1 or 3) and the record of the transforms."""
    _, strips, steps = dicom_strips(data, max_pixels=max_pixels)
    return np.concatenate(list(strips), axis=1), steps


def dicom_strips(
    data: bytes, *, max_pixels: int
) -> tuple[tuple[int, int], Iterator[np.ndarray], dict[str, Any]]:
    """``(height, width)``, float32 ``[C, h, W]`` strips in [0, 1] top to bottom (C = 1 or 3),
    and the record of the transforms. Values are computed a strip at a time, element by element
    as for the whole image (the min-max scaling takes a first pass for the extremes).

    pydicom raises many exception types on malformed files, and bad values surface only when
    an attribute is read, so every failure after the size checks is reported as bad input.
    """
    dataset = read_dicom(data)
    try:
        pixels, steps, convert = _decode(dataset, max_pixels=max_pixels)
    except InputError:
        raise
    except Exception as exc:  # e.g. an IS value "1A", a broken LUT, inconsistent pixel data
        raise _unusable(exc) from None

    def strips() -> Iterator[np.ndarray]:
        try:
            rows = max(1, STRIP_PIXELS // pixels.shape[1])
            for top in range(0, pixels.shape[0], rows):
                yield convert(pixels[top : top + rows])
        except InputError:
            raise
        except Exception as exc:
            raise _unusable(exc) from None

    return (int(pixels.shape[0]), int(pixels.shape[1])), strips(), steps


def _unusable(exc: Exception) -> InputError:
    return InputError.field("file", f"the DICOM file cannot be used: {type(exc).__name__}: {exc}")


def _decode(
    dataset: Any, *, max_pixels: int
) -> tuple[np.ndarray, dict[str, Any], Callable[[np.ndarray], np.ndarray]]:
    import pydicom
    from pydicom.pixels import apply_color_lut

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
    check_pixel_bytes(dataset)
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    try:
        dataset.pixel_array_options(view_only=True)  # native pixels: a view, not a copy
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
        return pixels, steps, _rgb_scaler(pixels.dtype, steps)
    if pixels.ndim == 2 and photometric == "PALETTE COLOR":
        steps["colour_lut"] = "PALETTE COLOR -> RGB"
        lut_dtype = apply_color_lut(pixels[:1, :1], dataset).dtype
        scale = _rgb_scaler(lut_dtype, steps)
        return pixels, steps, lambda strip: scale(apply_color_lut(strip, dataset))
    if pixels.ndim != 2 or photometric not in _MONOCHROME:
        raise InputError.field(
            "file", f"unsupported DICOM pixels: {photometric or 'no'} photometric, {pixels.shape}"
        )
    steps["modality_lut"] = _modality_record(dataset)
    has_voi = "WindowCenter" in dataset and "WindowWidth" in dataset or "VOILUTSequence" in dataset
    steps["voi"] = _voi_record(dataset) if has_voi else "none in file: min-max of modality values"
    values = _monochrome_values(dataset, has_voi)
    lo, hi = np.inf, -np.inf
    rows_per_strip = max(1, STRIP_PIXELS // columns)
    for top in range(0, rows, rows_per_strip):
        strip = values(pixels[top : top + rows_per_strip])
        lo, hi = min(lo, float(strip.min())), max(hi, float(strip.max()))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError.field("file", "the DICOM's rescale or window yields non-finite values")
    steps["scale"] = {"min": lo, "max": hi}
    inverted = photometric == "MONOCHROME1"
    if inverted:
        steps["inverted"] = "MONOCHROME1"

    def scaled(strip: np.ndarray) -> np.ndarray:
        out = values(strip)
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
        if inverted:
            out = 1.0 - out
        return out[None].astype(np.float32)

    return pixels, steps, scaled


def _monochrome_values(dataset: Any, has_voi: bool) -> Callable[[np.ndarray], np.ndarray]:
    """The modality LUT, then the VOI LUT or window, as float64, for any block of pixels."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    def values(strip: np.ndarray) -> np.ndarray:
        out = apply_modality_lut(strip, dataset).astype(np.float64)
        if has_voi:
            out = apply_voi_lut(out, dataset, index=0).astype(np.float64)
        return np.asarray(out)

    return values


def _rgb_scaler(dtype: np.dtype, steps: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    maximum = float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0
    steps["scale"] = f"/{maximum:g}"
    return lambda strip: np.moveaxis(strip.astype(np.float32) / maximum, -1, 0)


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
