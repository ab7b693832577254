"""PNG read in strips of rows: the chunk layout, the metadata-free file that is stored, and the
decoded rows, a few MiB at a time however large the image.

Pillow decodes a PNG into one full-size buffer (151 MiB for a 154 KB all-zero 6300 x 6300 RGBA
file). Here the zlib stream is inflated a strip at a time and the filters are undone by Pillow's
own PNG decoder, a lane at a time: a filter combines a byte only with the byte ``bpp`` before it
and the bytes above those, so each lane of up to 4 bytes a pixel unfilters on its own, seeded
with the last unfiltered row of the strip before. Each strip of unfiltered rows becomes a Pillow
image through a one-strip PNG of the same type, palette and transparency, so its mode and values
are the ones Pillow gives the whole image.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from shared.preprocess.errors import InputError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
STRIP_BYTES = 256 * 1024  # unfiltered bytes per strip
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_KEPT = (b"PLTE", b"tRNS")  # the only chunks besides IHDR/IDAT/IEND that change decoded pixels
_LANE_MODES = {4: "RGBA", 3: "RGB", 2: "LA", 1: "L"}  # lossless byte layouts Pillow unfilters
_TEXT = (b"eXIf", b"tEXt", b"zTXt", b"iTXt")  # where Pillow looks for an EXIF orientation


@dataclass(frozen=True)
class PngLayout:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool
    kept: tuple[tuple[bytes, bytes], ...]  # PLTE, tRNS as (type, body)
    idat: tuple[tuple[int, int], ...]  # (start, end) of each IDAT body in the file
    has_text: bool
    only_pixels: bool  # no chunk but IHDR, PLTE, tRNS, IDAT, IEND, and nothing after IEND

    @property
    def bpp(self) -> int:
        """Bytes between a byte and the one the filters combine it with (at least 1)."""
        return max(1, _CHANNELS[self.colour_type] * self.bit_depth // 8)

    @property
    def row_bytes(self) -> int:
        return (self.width * _CHANNELS[self.colour_type] * self.bit_depth + 7) // 8


def layout(data: bytes) -> PngLayout:
    """The chunks of a PNG whose signature and IHDR Pillow has accepted; every CRC checked."""
    offset, kept, idat, header, has_text = len(SIGNATURE), [], [], b"", False
    only_pixels = True
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        start, end = offset + 8, offset + 8 + length
        if end + 4 > len(data):
            raise InputError.field("file", f"truncated PNG: the {kind!r} chunk is cut off")
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(data[offset + 4 : end]) & 0xFFFFFFFF != crc:
            raise InputError.field("file", f"corrupt PNG: the {kind!r} chunk fails its CRC")
        if kind == b"IHDR":
            header = data[start:end]
        elif kind == b"IDAT":
            idat.append((start, end))
        elif kind in _KEPT:
            kept.append((kind, data[start:end]))
        has_text = has_text or kind in _TEXT
        only_pixels = only_pixels and kind in (b"IHDR", b"IDAT", b"IEND", *_KEPT)
        offset = end + 4
        if kind == b"IEND":
            break
    only_pixels = only_pixels and offset == len(data)
    if len(header) != 13 or not idat:
        raise InputError.field("file", "truncated PNG: no image header or no pixel data")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    return PngLayout(width, height, depth, colour, interlace == 1, tuple(kept), tuple(idat),
                     has_text, only_pixels)  # fmt: skip


def filtered_rows(data: bytes, png: PngLayout) -> Iterator[np.ndarray]:
    """``(n, 1 + row_bytes)`` uint8 blocks of the filtered rows (filter byte first), exactly
    ``height`` rows of a non-interlaced image; anything after them in the stream is dropped."""
    width = 1 + png.row_bytes
    per_strip = max(1, STRIP_BYTES // width)
    inflater, pending, rows_left = zlib.decompressobj(), b"", png.height
    chunks = (data[start:end] for start, end in png.idat)
    source = b""
    while rows_left:
        wanted = min(per_strip, rows_left) * width
        while len(pending) < wanted:
            if not source:
                source = inflater.unconsumed_tail or next(chunks, b"")
                if not source:
                    raise InputError.field("file", "truncated PNG: the pixel data ends early")
            try:
                pending += inflater.decompress(source, wanted - len(pending))
            except zlib.error as exc:
                raise InputError.field("file", f"corrupt PNG pixel data: {exc}") from None
            source = inflater.unconsumed_tail
        block = np.frombuffer(pending[:wanted], np.uint8).reshape(-1, width)
        pending = pending[wanted:]
        if block[:, 0].max() > 4:
            raise InputError.field("file", "corrupt PNG pixel data: unknown row filter")
        rows_left -= len(block)
        yield block


def metadata_free(data: bytes, png: PngLayout) -> bytes:
    """The same image with only IHDR, PLTE, tRNS, the pixel data (re-compressed: its filtered
    rows exactly, nothing after them) and IEND; ``data`` itself if it holds nothing else.
    Deterministic, and a fixed point."""
    if png.only_pixels and _stream_ends_with_the_rows(data, png):
        return data
    deflater = zlib.compressobj(6)
    idat = b"".join(deflater.compress(b.tobytes()) for b in filtered_rows(data, png))
    idat += deflater.flush()
    header = struct.pack(">IIBBBBB", png.width, png.height, png.bit_depth, png.colour_type, 0, 0, 0)
    return _file(header, [*png.kept, (b"IDAT", idat)])


def _stream_ends_with_the_rows(data: bytes, png: PngLayout) -> bool:
    """Whether the pixel stream inflates to the rows and ends there (output discarded)."""
    expected = png.height * (1 + png.row_bytes)
    inflater, size = zlib.decompressobj(), 0
    try:
        for start, end in png.idat:
            pending = data[start:end]
            while pending and size <= expected:
                size += len(inflater.decompress(pending, STRIP_BYTES))
                pending = inflater.unconsumed_tail
            if inflater.eof and (pending or inflater.unused_data or end != png.idat[-1][1]):
                return False
    except zlib.error:
        return False
    return inflater.eof and size == expected


def strips(data: bytes, png: PngLayout) -> Iterator[Image.Image]:
    """The image as Pillow images of consecutive rows, top to bottom (non-interlaced only)."""
    assert not png.interlaced
    bpp, previous = png.bpp, np.zeros(png.row_bytes, np.uint8)
    group = next(g for g in (4, 3, 2, 1) if bpp % g == 0)  # bytes of a lane's pixel
    mode = _LANE_MODES[group]
    lane_width = png.row_bytes // bpp
    for block in filtered_rows(data, png):
        rows = len(block)
        raw = np.empty((rows, png.row_bytes // group, group), np.uint8)
        pixels = block[:, 1:].reshape(rows, -1, group)
        for lane in range(bpp // group):
            stream = np.zeros((rows + 1, 1 + lane_width * group), np.uint8)
            stream[0, 1:] = previous.reshape(-1, group)[lane :: bpp // group].ravel()
            stream[1:, 0] = block[:, 0]
            stream[1:, 1:] = pixels[:, lane :: bpp // group].reshape(rows, -1)
            packed = zlib.compress(stream.tobytes(), 0)
            unfiltered = Image.frombytes(mode, (lane_width, rows + 1), packed, "zip", mode)
            raw[:, lane :: bpp // group] = np.asarray(unfiltered).reshape(rows + 1, -1, group)[1:]
        flat = raw.reshape(rows, -1)
        previous = flat[-1]
        yield _strip_image(png, flat)


def orientation_probe(data: bytes, png: PngLayout) -> Image.Image:
    """A 1 x 1 PNG with every chunk of ``data`` but the pixels: Pillow finds the EXIF orientation
    in it as it would in the whole image, without decoding the image."""
    pixel = zlib.compress(bytes(1 + (_CHANNELS[png.colour_type] * png.bit_depth + 7) // 8))
    header = struct.pack(">IIBBBBB", 1, 1, png.bit_depth, png.colour_type, 0, 0, 0)
    chunks, offset = [], len(SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"IDAT" and (offset + 8, offset + 8 + length) == png.idat[0]:
            chunks.append((b"IDAT", pixel))
        elif kind not in (b"IHDR", b"IDAT", b"IEND"):
            chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
        if kind == b"IEND":
            break
    probe = Image.open(io.BytesIO(_file(header, chunks)), formats=["PNG"])
    probe.load()
    return probe


def _strip_image(png: PngLayout, raw: np.ndarray) -> Image.Image:
    rows = np.zeros((len(raw), 1 + png.row_bytes), np.uint8)
    rows[:, 1:] = raw
    header = struct.pack(">IIBBBBB", png.width, len(raw), png.bit_depth, png.colour_type, 0, 0, 0)
    strip = _file(header, [*png.kept, (b"IDAT", zlib.compress(rows.tobytes(), 1))])
    image = Image.open(io.BytesIO(strip), formats=["PNG"])
    image.load()
    return image


def _file(header: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    parts = [SIGNATURE, _chunk(b"IHDR", header)]
    parts += [_chunk(kind, body) for kind, body in chunks]
    return b"".join([*parts, _chunk(b"IEND", b"")])


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
