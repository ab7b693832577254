"""Reading the PDFs the API writes: text without page footers, and the embedded images."""

from __future__ import annotations

import io
import re

import numpy as np
import pypdf

FOOTER = "xai-stack decision report"


def read(pdf: bytes) -> tuple[pypdf.PdfReader, str]:
    """The reader and the text of every page, page footers left out."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    lines = [line for page in reader.pages for line in page.extract_text().splitlines()]
    return reader, "\n".join(line for line in lines if not line.startswith(FOOTER))


def squashed(text: str) -> str:
    """``text`` without whitespace: a hash wrapped over two lines reads whole again."""
    return re.sub(r"\s+", "", text)


def embedded_images(reader: pypdf.PdfReader) -> list[np.ndarray]:
    """Each distinct image XObject, ``uint8 [H, W, 3]`` as stored (rows top-down)."""
    images = {image.data: image for page in reader.pages for image in page.images}
    return [np.asarray(image.image.convert("RGB")) for image in images.values()]
