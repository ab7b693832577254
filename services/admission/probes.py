"""Seeded probe inputs for admission: synthetic images of the declared size, or tabular rows.

Images: smooth random intensities in [0, 1] (a seeded low-resolution field upsampled, plus
noise), then the manifest's ``(x - mean) / std``, so probes look like preprocessed inputs.
Rows: the bundle's background rows (a seeded sample when there are more than needed), else
each feature's midpoint followed by seeded points inside the valid ranges.
"""

from __future__ import annotations

import numpy as np

from shared.bundles.manifest import ImageInput, TabularInput
from shared.bundles.registry import Bundle

PROBES = 8
SEED = 0


def image_probes(spec: ImageInput, *, n: int = PROBES, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 1.0, size=(n, spec.channels, 8, 8))
    rows = np.linspace(0, 7, spec.height)
    cols = np.linspace(0, 7, spec.width)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, 7), np.minimum(c0 + 1, 7)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    smooth = (
        coarse[..., r0[:, None], c0[None, :]] * (1 - fr) * (1 - fc)
        + coarse[..., r1[:, None], c0[None, :]] * fr * (1 - fc)
        + coarse[..., r0[:, None], c1[None, :]] * (1 - fr) * fc
        + coarse[..., r1[:, None], c1[None, :]] * fr * fc
    )
    images = np.clip(smooth + rng.normal(0.0, 0.05, size=smooth.shape), 0.0, 1.0)
    mean = np.asarray(spec.mean).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std).reshape(1, -1, 1, 1)
    return ((images - mean) / std).astype(np.float32)


def tabular_probes(
    spec: TabularInput, background: np.ndarray | None, *, n: int = PROBES, seed: int = SEED
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if background is not None and len(background) > 0:
        if len(background) <= n:
            return background.astype(np.float32)
        keep = np.sort(rng.choice(len(background), size=n, replace=False))
        return background[keep].astype(np.float32)
    low = np.array([f.minimum for f in spec.features])
    high = np.array([f.maximum for f in spec.features])
    points = rng.uniform(low, high, size=(n, len(low)))
    points[0] = (low + high) / 2
    return points.astype(np.float32)


def bundle_background(bundle: Bundle) -> np.ndarray | None:
    name = bundle.manifest.explanations.background_file
    if name is None:
        return None
    return np.load(bundle.file(name), allow_pickle=False)
