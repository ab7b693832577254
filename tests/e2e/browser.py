"""Steps the browser tests share: sign in, wait for an image, check labels, save screenshots."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from playwright.sync_api import Locator, Page, expect

# Every run saves screenshots under var/screenshots/; with XAI_UPDATE_SCREENSHOTS=1 they replace
# the README's pictures in docs/img/.
_ROOT = Path(__file__).resolve().parents[2]
_UPDATE = bool(os.environ.get("XAI_UPDATE_SCREENSHOTS"))
SCREENSHOTS = _ROOT / ("docs/img" if _UPDATE else "var/screenshots")


def sign_in(page: Page, url: str, token: str, *, purpose: str | None = None) -> None:
    """Sign in on the page at ``url`` (the auditor page also asks for the stated purpose)."""
    page.goto(url)
    page.fill("#token", token)
    if purpose is not None:
        page.fill("#purpose", purpose)
    page.press("#token", "Enter")
    expect(page.locator("#app")).to_be_visible()


def shown_diagnosis(page: Page, api: httpx.Client) -> dict[str, Any]:
    """Wait for the diagnosis on the page; return the prediction as the API recorded it, after
    checking the page shows its label."""
    label = page.locator("#diagnosis [data-role=label]")
    expect(label).to_be_visible()
    prediction_id = page.get_attribute("#diagnosis", "data-prediction-id")
    prediction: dict[str, Any] = api.get(f"/v1/predictions/{prediction_id}").json()
    assert label.inner_text() == prediction["diagnosis"]["label"]
    return prediction


def loaded(image: Locator, *, timeout: float = 60_000) -> Locator:
    """Wait until an <img> holds a decoded picture fetched by the page (a blob: URL)."""
    image.page.wait_for_function(
        "img => img.src.startsWith('blob:') && img.complete && img.naturalWidth > 0",
        arg=image.element_handle(timeout=timeout),
        timeout=timeout,
    )
    return image


_DRAW = """([layers, opacity]) => {
    const canvas = document.createElement('canvas');
    canvas.width = layers[0].naturalWidth;
    canvas.height = layers[0].naturalHeight;
    const g = canvas.getContext('2d');
    layers.forEach((img, i) => { g.globalAlpha = i === 0 ? 1 : opacity; g.drawImage(img, 0, 0); });
    const data = g.getImageData(0, 0, canvas.width, canvas.height).data;
    return [canvas.height, canvas.width, Array.from(data)];
}"""


def pixels(*layers: Locator, opacity: float = 1.0) -> np.ndarray:
    """RGB pixels as the browser decoded them: the first image, then each further one drawn on
    top at ``opacity`` (what CSS opacity on a stacked <img> shows), read back from a canvas."""
    page = layers[0].page
    handles = [layer.element_handle() for layer in layers]
    height, width, data = page.evaluate(_DRAW, [handles, opacity])
    return np.asarray(data, dtype=np.int16).reshape(height, width, 4)[..., :3]


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def unlabelled_controls(page: Page) -> list[str]:
    """Visible form controls without an accessible name (label, aria-label(ledby), or text)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(c => c.offsetParent !== null)
        .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
                  && !c.getAttribute('aria-labelledby') && !c.textContent.trim())
        .map(c => c.outerHTML.slice(0, 120))"""
    )


def screenshot(page: Page, name: str) -> Path:
    """The whole page, saved to SCREENSHOTS with a 256-colour palette (a quarter of the bytes)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return path
