"""The reason this product exists, as a test: explanations expose a Clever Hans model.

``chest-xray-demo/confounded`` learned that a burned-in scanner marker predicts pneumonia.
On the same marked pneumonia images, the share of positive attribution that falls in the
marker's corner box is far higher for it than for ``chest-xray-demo/clean``.

Measured (12 marked positives, seed 7000; box = 2.7 % of the image): Integrated Gradients
share, clean mean 0.007 (max 0.011) vs confounded mean 0.058 (min 0.050); Grad-CAM share,
clean mean 0.003 (max 0.020) vs confounded mean 0.204 (min 0.121). The thresholds below keep
a wide margin: the confounded model must put at least 4x (IG) and 10x (Grad-CAM) the clean
model's mean share in the box, more than the box's share of the image, and every confounded
image must exceed every clean one.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from services.worker.demo.chest_xray import MarkerPolicy, generate, marker_region
from services.worker.explainers import LoadedModel, get_explainer
from services.worker.twin import load_twin
from shared.bundles.registry import Registry
from shared.methods import METHODS
from shared.preprocess.image import prepare_image

pytestmark = pytest.mark.slow
SIZE = 128
ROWS, COLS = marker_region(SIZE)
BOX_SHARE = (ROWS.stop * COLS.stop) / SIZE**2


def marked_positives(n: int = 12) -> list[bytes]:
    samples = generate(3 * n, seed=7000, marker=MarkerPolicy(1.0, 1.0), size=SIZE)
    pngs = []
    for image, label in zip(samples.images, samples.labels, strict=True):
        if label == 1 and len(pngs) < n:
            buffer = io.BytesIO()
            Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(buffer, format="PNG")
            pngs.append(buffer.getvalue())
    return pngs


def marker_shares(bundles: Path, version: str, method: str, pngs: list[bytes]) -> np.ndarray:
    bundle = Registry.scan(bundles).get("chest-xray-demo", version)
    model_bytes = bundle.read_model_bytes()
    model = LoadedModel(
        bundle=bundle, session=ort.InferenceSession(model_bytes), twin=load_twin(model_bytes)
    )
    explainer = get_explainer(method)
    parameters = METHODS[method].resolve(
        model.manifest, bundle.manifest.explanations.parameters.get(method)
    )
    shares = []
    for png in pngs:  # through the API's own preprocessing, as served
        x = prepare_image(png, bundle.manifest.input, max_pixels=10**7).tensor  # type: ignore[arg-type]
        values = explainer.explain(
            model=model, x=x, target=1, parameters=parameters, seed=0
        ).values[0]
        positive = np.clip(values, 0, None)
        shares.append(positive[ROWS, COLS].sum() / positive.sum())
    return np.asarray(shares)


@pytest.mark.parametrize(("method", "factor"), [("integrated_gradients", 4), ("gradcam", 10)])
def test_explanations_expose_the_scanner_marker_shortcut(
    demo_bundles: Path, method: str, factor: float
) -> None:
    pngs = marked_positives()
    clean = marker_shares(demo_bundles, "clean", method, pngs)
    confounded = marker_shares(demo_bundles, "confounded", method, pngs)
    print(
        f"{method}: marker-box share clean mean {clean.mean():.3f} (max {clean.max():.3f}), "
        f"confounded mean {confounded.mean():.3f} (min {confounded.min():.3f})"
    )
    assert confounded.mean() >= factor * clean.mean(), (clean, confounded)
    assert confounded.mean() > BOX_SHARE > clean.mean()
    assert confounded.min() > clean.max()
