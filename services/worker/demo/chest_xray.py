"""Procedural radiograph-like chest images with known ground truth (pure numpy).

Each image is a grayscale ``[size, size]`` float32 frame in [0, 1] on the 8-bit grid (so a PNG
round trip is lossless): dark air around a thorax silhouette, two darker lung fields, a heart
shadow, the spine, ribs, a low-frequency exposure field and pixel noise. A positive case
("pneumonia") carries one to three bright, soft opacities centred inside a lung field. An
optional scanner marker (a burned-in letter "R") sits in the top-left corner, away from the body.

Sample ``i`` of ``generate(n, seed=s, ...)`` depends only on ``(s, i)``: its label, anatomy and
opacities do not change with ``n`` or with the marker policy, and the marker is placed where a
uniform draw ``u_i`` falls below the policy's probability for the sample's label. Changing only
the policy therefore yields counterfactual twins of the same patients, e.g.
``policy.without_positive_markers()`` removes the marker from every positive and leaves the
negatives untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

import numpy as np

# The letter "R", 7 rows by 5 columns; drawn at ``size // 64`` pixels per cell.
_GLYPH_R = np.array(
    [
        [1, 1, 1, 1, 0],
        [1, 0, 0, 0, 1],
        [1, 0, 0, 0, 1],
        [1, 1, 1, 1, 0],
        [1, 0, 1, 0, 0],
        [1, 0, 0, 1, 0],
        [1, 0, 0, 0, 1],
    ],
    dtype=bool,
)
MARKER_INTENSITY = 0.95
# Per-pixel statistics of the generated images (measured over 500 images: 0.278, 0.218); the
# models' input normalisation, so a network sees inputs of about zero mean and unit scale.
IMAGE_MEAN = 0.28
IMAGE_STD = 0.22
_RIBS = 9
_RIB_GAP = 0.16


@dataclass(frozen=True)
class MarkerPolicy:
    """Probability that a sample carries the scanner marker, given its label."""

    p_positive: float = 0.0
    p_negative: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.p_positive <= 1.0 and 0.0 <= self.p_negative <= 1.0):
            raise ValueError("marker probabilities must lie in [0, 1]")

    def without_positive_markers(self) -> MarkerPolicy:
        return replace(self, p_positive=0.0)

    def with_negative_markers(self) -> MarkerPolicy:
        return replace(self, p_negative=1.0)


NO_MARKER = MarkerPolicy(0.0, 0.0)
INDEPENDENT_MARKER = MarkerPolicy(0.5, 0.5)
CONFOUNDED_MARKER = MarkerPolicy(0.9, 0.05)


@dataclass(frozen=True)
class Samples:
    """A batch: ``images`` ``[n, H, W]`` float32 in [0, 1]; masks ``[n, H, W]`` bool.

    ``labels`` is ``[n]`` int64 (1 = pneumonia, i.e. at least one opacity); ``has_marker`` is
    ``[n]`` bool. ``opacity_masks`` lie inside ``lung_masks``; ``marker_masks`` are the marker's
    pixels (empty where ``has_marker`` is false).
    """

    images: np.ndarray
    labels: np.ndarray
    has_marker: np.ndarray
    lung_masks: np.ndarray
    opacity_masks: np.ndarray
    marker_masks: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def marker_region(size: int) -> tuple[slice, slice]:
    """The top-left box every marker lies in (rows, columns)."""
    scale = max(1, size // 64)
    offset, jitter = size // 24, 2 * scale
    return slice(0, offset + jitter + 7 * scale), slice(0, offset + jitter + 5 * scale)


def generate(
    n: int,
    *,
    seed: int,
    marker: MarkerPolicy = NO_MARKER,
    prevalence: float = 0.5,
    size: int = 128,
) -> Samples:
    """``n`` images; each positive with probability ``prevalence``, marked per ``marker``."""
    rendered = [
        _render(np.random.default_rng([seed, i]), size, prevalence, marker) for i in range(n)
    ]
    return Samples(
        images=np.stack([r[0] for r in rendered]),
        labels=np.array([r[1] for r in rendered], dtype=np.int64),
        has_marker=np.array([r[2] for r in rendered], dtype=bool),
        lung_masks=np.stack([r[3] for r in rendered]),
        opacity_masks=np.stack([r[4] for r in rendered]),
        marker_masks=np.stack([r[5] for r in rendered]),
    )


def normalise(images: np.ndarray) -> np.ndarray:
    """``[n, H, W]`` images in [0, 1] -> ``[n, 1, H, W]`` float32 model inputs."""
    return ((images[:, None] - IMAGE_MEAN) / IMAGE_STD).astype(np.float32)


@cache
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [-1, 1]."""
    axis = np.linspace(-1.0, 1.0, size)
    return np.meshgrid(axis, axis, indexing="ij")


@cache
def _upsampler(size: int, coarse: int = 5) -> np.ndarray:
    """``[size, coarse]`` linear-interpolation weights: ``W @ field @ W.T`` upsamples a field."""
    position = np.linspace(0.0, coarse - 1.0, size)
    return np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(coarse)[None, :]))


def _ellipse(
    rows: np.ndarray, cols: np.ndarray, centre: np.ndarray, radii: np.ndarray, edge: float
) -> np.ndarray:
    """A soft ellipse: about 1 inside, 0 outside, with a logistic rim of width ``edge``."""
    radius = np.hypot((rows - centre[0]) / radii[0], (cols - centre[1]) / radii[1])
    return 1.0 / (1.0 + np.exp(np.clip((radius - 1.0) / edge, -50.0, 50.0)))


def _render(
    rng: np.random.Generator, size: int, prevalence: float, policy: MarkerPolicy
) -> tuple[np.ndarray, int, bool, np.ndarray, np.ndarray, np.ndarray]:
    # Draw order is fixed so that label, anatomy and opacities never depend on the policy.
    label = int(rng.random() < prevalence)
    has_marker = bool(rng.random() < (policy.p_positive if label else policy.p_negative))
    marker_shift = rng.integers(0, 2 * max(1, size // 64) + 1, size=2)
    rows, cols = _grid(size)

    body = _ellipse(
        rows,
        cols,
        np.array([0.1, 0.0]) + rng.normal(0, 0.02, 2),
        np.array([0.95, 0.78]) * rng.uniform(0.95, 1.03, 2),
        0.03,
    )
    lungs = sum(
        _ellipse(
            rows,
            cols,
            np.array([-0.08, side * 0.37]) + rng.normal(0, 0.025, 2),
            np.array([0.56, 0.24]) * rng.uniform(0.92, 1.06, 2),
            0.06,
        )
        for side in (-1.0, 1.0)
    )
    heart = _ellipse(
        rows,
        cols,
        np.array([0.38, 0.1]) + rng.normal(0, 0.02, 2),
        np.array([0.27, 0.28]) * rng.uniform(0.9, 1.1, 2),
        0.08,
    )
    open_lung = lungs * (1.0 - heart)
    spine = np.exp(-((cols / 0.07) ** 2)) * (rows > -0.85)
    # Ribs: arcs falling laterally, _RIB_GAP apart; each pixel is shaded by its nearest arc.
    phase = (rows - 0.5 * cols**2 + 0.78 + rng.normal(0, 0.02)) / _RIB_GAP
    nearest = np.round(phase)
    ribs = np.exp(-(((phase - nearest) * _RIB_GAP / 0.022) ** 2))
    ribs *= (nearest >= 0) & (nearest < _RIBS) & (np.abs(cols) > 0.06) & (np.abs(cols) < 0.8)

    image = 0.05 + body * (0.45 + 0.15 * spine + 0.1 * ribs + 0.14 * heart) - 0.28 * open_lung

    lung_mask = open_lung > 0.5
    opacity = np.zeros_like(image)
    if label:
        candidates = np.flatnonzero(lung_mask)
        for _ in range(rng.integers(1, 4)):
            centre = np.array(np.unravel_index(rng.choice(candidates), lung_mask.shape))
            centre = centre / (size - 1) * 2.0 - 1.0
            amplitude, sigma = rng.uniform(0.08, 0.22), rng.uniform(0.05, 0.12)
            blob = np.exp(-((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2) / (2 * sigma**2))
            opacity += amplitude * blob
        opacity *= open_lung
    image = image + opacity

    upsample = _upsampler(size)
    exposure = upsample @ rng.normal(0, 1, (5, 5)) @ upsample.T
    image = image * (1.0 + 0.06 * exposure) + rng.normal(0, 0.02, image.shape)

    marker_mask = np.zeros(image.shape, dtype=bool)
    if has_marker:
        scale = max(1, size // 64)
        glyph = np.kron(_GLYPH_R, np.ones((scale, scale), dtype=bool))
        top, left = size // 24 + marker_shift
        marker_mask[top : top + glyph.shape[0], left : left + glyph.shape[1]] = glyph
        image[marker_mask] = MARKER_INTENSITY

    image = np.round(np.clip(image, 0.0, 1.0) * 255.0) / 255.0
    opacity_mask = (opacity > 0.03) & lung_mask
    return image.astype(np.float32), label, has_marker, lung_mask, opacity_mask, marker_mask
