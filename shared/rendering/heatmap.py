"""Attribution heatmaps over the image the model saw: numpy in, PNG bytes out.

The normalisation follows the practice of Captum's ``visualize_image_attr`` (Kokhlikyan et al.
2020, arXiv:2009.07896): reduce channels by summation, keep the requested sign, and divide by a
high percentile of the magnitudes so that a few extreme pixels do not wash out the rest.
The plain overlays are composed with numpy and encoded with Pillow (exact pixel size, no axes,
fast); only the colour-bar variant draws a matplotlib figure.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from shared.rendering._figure import FONT_SIZE, figure_png, new_figure, png_bytes
from shared.rendering.options import HeatmapOptions

DEFAULT_OPTIONS = HeatmapOptions()
_GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma
_COLORBAR_MIN_HEIGHT_PX = 192


def _spatial(attributions: np.ndarray) -> np.ndarray:
    """``[H, W]`` or ``[C, H, W]`` (summed over C) → finite float64 ``[H, W]``."""
    attr = np.asarray(attributions, dtype=np.float64)
    if attr.ndim == 3:
        attr = attr.sum(axis=0)
    if attr.ndim != 2:
        raise ValueError(f"attributions must be [H, W] or [C, H, W], got shape {attr.shape}")
    if not np.isfinite(attr).all():
        raise ValueError("attributions contain NaN or infinite values")
    return attr


def _polarised(attributions: np.ndarray, polarity: str) -> np.ndarray:
    attr = _spatial(attributions)
    if polarity == "positive":
        return np.maximum(attr, 0.0)
    if polarity == "negative":
        return np.maximum(-attr, 0.0)
    if polarity == "absolute":
        return np.abs(attr)
    return attr


def normalise_attributions(
    attributions: np.ndarray, options: HeatmapOptions = DEFAULT_OPTIONS
) -> np.ndarray:
    """Scale an attribution map for display.

    ``attributions``: ``[H, W]`` or ``[C, H, W]`` (channels are summed). Returns ``[H, W]``
    in ``[-1, 1]`` for ``polarity="both"`` (sign kept, symmetric around zero), else in
    ``[0, 1]`` (``"negative"`` gives the magnitude of the negative evidence). The scale is the
    ``clip_percentile``-th percentile of the non-zero magnitudes; larger values saturate at ±1.
    A map with no attribution of the requested sign normalises to zeros.
    """
    polarised = _polarised(attributions, options.polarity)
    magnitude = np.abs(polarised)
    nonzero = magnitude[magnitude > 0]
    if nonzero.size == 0:
        return np.zeros_like(polarised)
    scale = float(np.percentile(nonzero, options.clip_percentile))
    low = -1.0 if options.polarity == "both" else 0.0
    return np.clip(polarised / scale, low, 1.0)


def _image_rgb(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``[H, W]``, ``[1, H, W]`` or ``[3, H, W]`` in [0, 1] → float ``[H, W, 3]``."""
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[None]
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"image must be [H, W], [1, H, W] or [3, H, W], got {img.shape}")
    if img.shape[1:] != shape:
        raise ValueError(f"image is {img.shape[1:]} pixels but attributions are {shape}")
    return np.clip(np.broadcast_to(img, (3, *shape)).transpose(1, 2, 0), 0.0, 1.0)


@lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]


def _colour(normalised: np.ndarray, options: HeatmapOptions) -> np.ndarray:
    position = (normalised + 1.0) / 2.0 if options.polarity == "both" else normalised
    return _lut(options.resolved_cmap)[np.rint(position * 255).astype(np.intp)]


def _mask(image: np.ndarray, attributions: np.ndarray, options: HeatmapOptions) -> np.ndarray:
    """Keep the top ``mask_top_percent`` % pixels by attribution; dim the rest by ``alpha``."""
    score = np.abs(_polarised(attributions, options.polarity)).ravel()
    n_keep = math.ceil(options.mask_top_percent / 100.0 * score.size)
    keep = np.zeros(score.size, dtype=bool)
    keep[np.argsort(-score, kind="stable")[:n_keep]] = True
    keep &= score > 0
    keep = keep.reshape(image.shape[:2])[..., None]
    return np.where(keep, image, image * (1.0 - options.alpha))


def heatmap_rgb(
    image: np.ndarray, attributions: np.ndarray, options: HeatmapOptions = DEFAULT_OPTIONS
) -> np.ndarray:
    """The overlay as a float ``[H, W, 3]`` array in [0, 1] (what :func:`render_heatmap` encodes).

    ``image``: ``[H, W]``, ``[1, H, W]`` or ``[3, H, W]`` floats in [0, 1], the raw input before
    the model's normalisation; ``attributions``: ``[H, W]`` or ``[C, H, W]`` on the same pixels.
    """
    attr = _spatial(attributions)
    rgb = _image_rgb(image, attr.shape)
    if options.overlay == "mask":
        return _mask(rgb, attr, options)
    normalised = normalise_attributions(attr, options)
    heat = _colour(normalised, options)
    if options.overlay == "none":
        return heat
    if options.overlay == "grayscale":
        rgb = np.repeat((rgb @ _GREY_WEIGHTS)[..., None], 3, axis=2)
    weight = options.alpha * np.abs(normalised)[..., None]
    return (1.0 - weight) * rgb + weight * heat


def _with_colorbar(rgb: np.ndarray, options: HeatmapOptions) -> bytes:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    scale = max(1, math.ceil(_COLORBAR_MIN_HEIGHT_PX / rgb.shape[0]))
    rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width = rgb.shape[:2]
    total = width + 90
    figure = new_figure(total, height)
    axes = figure.add_axes((0.0, 0.0, width / total, 1.0))
    axes.imshow(rgb, interpolation="nearest")
    axes.set_axis_off()
    bar = figure.add_axes(((width + 10) / total, 0.05, 14 / total, 0.9))
    low = -1.0 if options.polarity == "both" else 0.0
    mappable = ScalarMappable(norm=Normalize(low, 1.0), cmap=options.resolved_cmap)
    colorbar = figure.colorbar(mappable, cax=bar)
    colorbar.set_ticks(np.linspace(low, 1.0, 3).tolist())  # few ticks: each costs ~1 ms to draw
    colorbar.ax.tick_params(labelsize=FONT_SIZE - 1)
    label = f"{options.polarity} attribution / p{options.clip_percentile:g}"
    colorbar.set_label(label, fontsize=FONT_SIZE - 1)
    return figure_png(figure)


def render_heatmap(
    image: np.ndarray, attributions: np.ndarray, options: HeatmapOptions = DEFAULT_OPTIONS
) -> bytes:
    """PNG of the attribution heatmap over ``image`` (shapes as in :func:`heatmap_rgb`).

    The PNG is RGB. Without a colour bar it has exactly the image's pixel size, with no axes or
    margins. With ``options.colorbar`` it is a figure: the image (upscaled by an integer
    factor to at least 192 px high) beside a labelled colour bar.
    """
    rgb = heatmap_rgb(image, attributions, options)
    if options.colorbar:
        return _with_colorbar(rgb, options)
    return png_bytes(np.rint(rgb * 255).astype(np.uint8))
