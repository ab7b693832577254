"""Bilinear resizing of an image that arrives in strips of rows.

An image whose float32 planes fit in ``WHOLE_BYTES`` is gathered and resized in one Pillow call,
exactly as earlier releases did. A larger one is resized in Pillow's two passes, taken apart:
each strip's rows horizontally as they arrive (rows are independent in that pass), then the
stacked rows vertically; only ``channels x height x model width`` floats are held. Pillow may
run a whole image's passes in the other order, so for a large image the result can differ from
a one-call resize by float32 rounding (about 1e-7); the stored input always reproduces it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WHOLE_BYTES = 16 * 1024 * 1024
_BILINEAR = Image.Resampling.BILINEAR


class StripResizer:
    def __init__(self, *, channels: int, height: int, width: int, to: tuple[int, int]) -> None:
        self.size = (height, width)
        self.to = to
        self.whole = channels * height * width * 4 <= WHOLE_BYTES
        self._rows = np.empty((channels, height, width if self.whole else to[1]), np.float32)
        self._filled = 0

    def add(self, strip: np.ndarray) -> None:
        """``strip``: float32 ``[C, h, W]``, the next ``h`` rows."""
        rows = strip.shape[1]
        target = self._rows[:, self._filled : self._filled + rows]
        if self.whole or strip.shape[2] == self.to[1]:
            target[...] = strip
        else:
            for plane, out in zip(strip, target, strict=True):
                out[...] = _resized(plane, (self.to[1], rows))
        self._filled += rows

    def result(self) -> np.ndarray:
        """float32 ``[C, *to]``."""
        assert self._filled == self.size[0], "every row was added"
        if self._rows.shape[1:] == self.to:
            return self._rows
        planes = [_resized(plane, (self.to[1], self.to[0])) for plane in self._rows]
        return np.stack(planes).astype(np.float32)


def _resized(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(plane, np.float32)).resize(size, _BILINEAR))
