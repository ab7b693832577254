"""Decoding helper shared by the rendering tests."""

import io

import numpy as np
from PIL import Image


def decode(png: bytes) -> np.ndarray:
    """PNG bytes → ``uint8 [H, W, 3]``; fails unless the PNG is a plain RGB image."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGB"
    return np.asarray(image)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)


def count_colour(pixels: np.ndarray, colour: str) -> int:
    return int(np.all(pixels == hex_rgb(colour), axis=-1).sum())
