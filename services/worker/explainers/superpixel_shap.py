"""Kernel SHAP over a regular grid of superpixels, on the served ORT model (no torch twin).

Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017, with the
image cut into ``grid x grid`` rectangles as its features. A coalition ``z`` (one bit per cell)
is the image with the cells of ``z = 0`` taken from the baseline image (black, blur or mean, as
for Integrated Gradients); the game is the served score of class ``target`` on it, so
``phi_k`` is cell ``k``'s Shapley value and ``sum_k phi_k = f(x) - f(baseline)``.

shap's ``KernelExplainer`` solves the weighted regression over the mask space (one background
row, all cells absent; the explained row, all present). It was chosen over Captum's
``KernelShap`` because it imposes that sum exactly, eliminating one unknown of the regression,
where Captum only weights the empty and full coalitions by 1e6 in an unconstrained fit; it also
draws paired coalitions and enumerates whole coalition sizes while its budget allows, and with
``2**(grid*grid) - 2`` samples or more it enumerates every coalition (exact Shapley values). It
draws from numpy's global generator, seeded for the call and restored afterwards, so a replay
with the same seed asks ORT the same batches and gets the same bytes. No L1 selection.

The archived map is ``[C, H, W]``: each cell's value spread evenly over its pixels and
channels, so the map sums to the SHAP sum and the heatmap shows value per pixel.
"""

from __future__ import annotations

from typing import ClassVar, cast

import numpy as np

from services.worker.explainers._tabular import numpy_global_seed
from services.worker.explainers.base import (
    Attribution,
    CatalogueExplainer,
    ExplainerError,
    LoadedModel,
)
from services.worker.explainers.integrated_gradients import baseline_for
from shared.bundles.manifest import ImageInput
from shared.methods.superpixel_shap import SuperpixelShapParameters
from shared.versions import package_versions

BATCH = 16
"""Images per ONNX Runtime call (a 224² RGB batch of 16 is ~10 MB)."""


def cell_map(height: int, width: int, grid: int) -> np.ndarray:
    """``[H, W]`` cell index of each pixel: ``grid`` near-equal bands per axis, row-major."""
    rows = np.arange(height) * grid // height
    cols = np.arange(width) * grid // width
    return rows[:, None] * grid + cols[None, :]


def spread(values: np.ndarray, cells: np.ndarray, channels: int) -> np.ndarray:
    """``[C, H, W]`` float32: cell ``k``'s value divided evenly over its pixels and channels."""
    counts = np.bincount(cells.ravel(), minlength=len(values)) * channels
    per_pixel = (values / counts)[cells]
    return np.ascontiguousarray(np.broadcast_to(per_pixel, (channels, *cells.shape)), np.float32)


def batch_size(model: LoadedModel, x: np.ndarray) -> int:
    """:data:`BATCH`, or 1 for a model exported with a fixed batch of one."""
    try:
        model.scores(np.concatenate([x, x]))
    except Exception:  # noqa: BLE001 - ORT raises its own untyped errors
        return 1
    return BATCH


class SuperpixelShapExplainer(CatalogueExplainer):
    name: ClassVar[str] = "superpixel_shap"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: SuperpixelShapParameters,
        seed: int,
    ) -> Attribution:
        """Superpixel SHAP values of class ``target`` for ``x [1, C, H, W]``, as ``[C, H, W]``."""
        import shap

        spec = model.manifest.input
        if not isinstance(spec, ImageInput):
            raise ExplainerError(f"{model.manifest.name} is not an image model")
        shape = (1, spec.channels, spec.height, spec.width)
        if tuple(x.shape) != shape:
            raise ExplainerError(f"input has shape {tuple(x.shape)}, the model takes {shape}")
        if not 0 <= target < len(model.manifest.output.labels):
            raise ExplainerError(f"target {target} is not a class of {model.manifest.name}")
        p = parameters
        x = np.asarray(x, dtype=np.float32)
        baseline = baseline_for(p.baseline, spec, x)
        cells = cell_map(spec.height, spec.width, p.grid)
        n_cells = p.grid * p.grid
        chunk = batch_size(model, x)

        def game(masks: np.ndarray) -> np.ndarray:
            """``[n, n_cells]`` coalitions -> ``[n]`` served scores of class ``target``."""
            present = np.asarray(masks)[:, cells] > 0.5  # [n, H, W]
            out = np.empty(len(present))
            for start in range(0, len(present), chunk):
                keep = present[start : start + chunk, None]
                images = np.where(keep, x, baseline)
                out[start : start + chunk] = model.scores(images)[:, target]
            return out

        everything, nothing = np.ones((1, n_cells)), np.zeros((1, n_cells))
        with numpy_global_seed(seed):
            explainer = shap.KernelExplainer(game, nothing)
            raw = explainer.shap_values(everything, nsamples=p.nsamples, l1_reg=False, silent=True)
        values = spread(np.asarray(raw, dtype=np.float64).reshape(-1), cells, spec.channels)
        score, baseline_score = (float(game(m)[0]) for m in (everything, nothing))
        gap = abs(baseline_score + float(values.sum(dtype=np.float64)) - score)
        return Attribution(
            method=self.name,
            values=values,
            target=target,
            parameters=p.recorded(),
            model_sha256=model.bundle.sha256,
            seed=seed,
            baseline=baseline[0],
            quality={
                "superpixel_additivity_error": gap,
                "score": score,
                "baseline_score": baseline_score,
            },
            library_versions=package_versions("shap", "onnxruntime", "numpy"),
        )


def cell_values(values: np.ndarray, grid: int) -> np.ndarray:
    """The ``[grid * grid]`` cell values back from an archived ``[C, H, W]`` map."""
    cells = cell_map(values.shape[1], values.shape[2], grid)
    return cast(np.ndarray, np.bincount(cells.ravel(), weights=values.sum(axis=0).ravel()))
