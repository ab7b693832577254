"""Peak memory of preprocessing one hostile upload: small files (all-zero pixels compress to
almost nothing) that sit just under the pixel cap and decode to hundreds of MiB.

    .venv/bin/python -m bench.decode_memory

Each kind is measured in a fresh subprocess: it imports the preprocessing, decodes a tiny file
of the same kind (so lazy imports and decoder set-up are paid), reads the upload, resets its
peak RSS to its RSS (``/proc/self/clear_refs``) and records it (``ru_maxrss``) as the baseline,
then prepares the upload for a 3 x 224 x 224 model and reports ``ru_maxrss`` above that
baseline, the time, and whether the upload was accepted. Goal: at most
``CEILING_MIB`` above the baseline for every kind.
"""

from __future__ import annotations

import gc
import io
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

CEILING_MIB = 64
MAX_PIXELS = 40_000_000  # the default XAI_MAX_IMAGE_PIXELS
SIDE = 6300  # 39.7 megapixels: just under the cap
DICOM_SIDE = 6000


_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)  # fmt: skip  (column start, row start, column step, row step)


def png_zeros(
    width: int, height: int, *, bit_depth: int = 8, colour_type: int = 6, interlaced: bool = False
) -> bytes:
    """A valid PNG of zero pixels, written row by row (never holding the decoded image)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    compressor = zlib.compressobj(9)
    idat = b""
    for x0, y0, dx, dy in passes:
        columns, rows = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        row = bytes(1 + (columns * channels * bit_depth + 7) // 8)
        idat += b"".join(compressor.compress(row) for _ in range(rows if columns else 0))
    idat += compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def jpeg_zeros(side: int, *, progressive: bool, mode: str = "RGB") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (side, side)).save(buffer, format="JPEG", progressive=progressive, quality=90)
    return buffer.getvalue()


def dicom_zeros(side: int, *, deflated: bool = True, bits: int = 16) -> bytes:
    """A Secondary Capture DICOM of zero pixels (deflated: the whole dataset, pixels included)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

    dataset = Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.SOPInstanceUID = generate_uid()
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.Modality = "OT"
    dataset.Rows = dataset.Columns = side
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = bits
    dataset.HighBit = bits - 1
    dataset.PixelRepresentation = 0
    dataset.PixelData = bytes(side * side * bits // 8)
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    syntax = DeflatedExplicitVRLittleEndian if deflated else ExplicitVRLittleEndian
    dataset.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _scaled(side: int, full: int) -> int:
    """``full`` pixels a side in the measured upload; as large a share of ``side`` in warm-up."""
    return full * side // SIDE


# upload kind -> maker of the upload at SIDE (and of a small one for the warm-up)
KINDS: dict[str, Callable[[int], bytes]] = {
    "RGBA PNG": lambda side: png_zeros(side, side, colour_type=6),
    "16-bit RGBA PNG": lambda side: png_zeros(side, side, bit_depth=16, colour_type=6),
    "16-bit grey PNG": lambda side: png_zeros(side, side, bit_depth=16, colour_type=0),
    "deflated DICOM": lambda side: dicom_zeros(_scaled(side, DICOM_SIDE)),
    "progressive JPEG": lambda side: jpeg_zeros(side, progressive=True),
    # the largest of each kind that is decoded whole, or accepted at all, below its limit
    "baseline JPEG": lambda side: jpeg_zeros(side, progressive=False),
    "baseline JPEG 2000^2": lambda side: jpeg_zeros(_scaled(side, 2000), progressive=False),
    "progressive JPEG 4000^2": lambda side: jpeg_zeros(_scaled(side, 4000), progressive=True),
    "interlaced RGBA PNG 2000^2": lambda side: png_zeros(
        _scaled(side, 2000), _scaled(side, 2000), interlaced=True
    ),
    "deflated DICOM 3200^2": lambda side: dicom_zeros(_scaled(side, 3200)),
    "DICOM 3200^2": lambda side: dicom_zeros(_scaled(side, 3200), deflated=False),
}


def measure(kind: str, data: bytes | None = None) -> dict[str, object]:
    """Peak RSS (MiB) above the baseline of a fresh child preparing the upload: ``data``, or
    the ``kind`` at ``SIDE`` made by another child (so this process stays small: a child's
    ``ru_maxrss`` starts at its parent's RSS at the fork)."""
    with tempfile.NamedTemporaryFile(suffix=".upload") as upload:
        if data is None:
            _run("--make", kind, upload.name)
        else:
            upload.write(data)
            upload.flush()
        result: dict[str, object] = json.loads(_run("--child", kind, upload.name))
    return result


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.decode_memory", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args}: the child failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _child(kind: str, path: str) -> None:
    from shared.bundles.manifest import ImageInput
    from shared.preprocess.errors import InputError
    from shared.preprocess.image import prepare_image

    spec = ImageInput(height=224, width=224, channels=3, mean=(0.5,) * 3, std=(0.25,) * 3)
    prepare_image(KINDS[kind](256), spec, max_pixels=MAX_PIXELS)  # imports and set-up paid
    data = Path(path).read_bytes()
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # the peak so far becomes the RSS now
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        prepare_image(data, spec, max_pixels=MAX_PIXELS)
        outcome = "accepted"
    except InputError as exc:
        outcome = f"refused: {exc.detail[6:90]}"
    seconds = time.perf_counter() - started
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    result = {"kind": kind, "bytes": len(data), "peak_mib": peak, "seconds": seconds}
    print(json.dumps({**result, "outcome": outcome}))


def main() -> None:
    print(f"peak RSS above baseline, preparing for a 3x224x224 model (cap {MAX_PIXELS} pixels)")
    print(f"{'upload':<27} {'size':>9} {'peak MiB':>9} {'time':>6}  outcome")
    worst = 0.0
    for kind in KINDS:
        result = measure(kind)
        peak = float(result["peak_mib"])  # type: ignore[arg-type]
        worst = max(worst, peak)
        seconds = float(result["seconds"])  # type: ignore[arg-type]
        size = f"{int(result['bytes']) // 1024} KB"  # type: ignore[call-overload]
        print(f"{kind:<27} {size:>9} {peak:>9.1f} {seconds:>5.1f}s  {result['outcome']}")
    print(f"worst: {worst:.1f} MiB (goal <= {CEILING_MIB} MiB)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--make"]:
        Path(sys.argv[3]).write_bytes(KINDS[sys.argv[2]](SIDE))
    else:
        main()
