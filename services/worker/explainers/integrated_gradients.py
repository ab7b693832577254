"""Integrated Gradients (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep
Networks", https://arxiv.org/abs/1703.01365) with Captum, on the served model's torch twin.

``IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x')) / dx_i da``, approximated by an
``n_steps`` quadrature. Completeness says ``sum_i IG_i = F(x) - F(x')``; the gap (Captum's
convergence delta) is reported, and ``n_steps`` doubles until the gap relative to
``|F(x) - F(x')|`` is at most ``max_relative_delta`` or ``n_steps`` reaches ``max_steps``.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from services.worker.explainers._gradients import (
    GradientExplainer,
    attribution,
    prepare,
    takes_batches,
)
from services.worker.explainers.base import Attribution, LoadedModel
from shared.bundles.manifest import ImageInput
from shared.methods.integrated_gradients import IntegratedGradientsParameters

# The "blur" baseline: a Gaussian of this fraction of the image side (Sturmfels et al. 2020,
# "Visualizing the Impact of Feature Attribution Baselines", Distill).
BLUR_SIGMA_FRACTION = 0.1
# Below this |F(x) - F(x')| the relative completeness gap is undefined and not reported.
MIN_SCORE_DIFFERENCE = 1e-6


def baseline_for(kind: str, spec: ImageInput, x: np.ndarray) -> np.ndarray:
    """The baseline ``kind`` for ``x`` (``[1, C, H, W]``), in the model's input space.

    ``black``: raw intensity 0 normalised, ``(0 - mean) / std`` per channel; ``blur``: ``x``
    under a strong Gaussian blur; ``mean``: the per-channel mean of ``x``.
    """
    if kind == "black":
        black = -np.asarray(spec.mean) / np.asarray(spec.std)
        baseline = np.broadcast_to(black[None, :, None, None], x.shape)
    elif kind == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = BLUR_SIGMA_FRACTION * max(spec.height, spec.width)
        baseline = gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="reflect")
    else:
        baseline = np.broadcast_to(x.mean(axis=(2, 3), keepdims=True), x.shape)
    return np.ascontiguousarray(baseline, dtype=np.float32)


class IntegratedGradientsExplainer(GradientExplainer):
    name = "integrated_gradients"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: IntegratedGradientsParameters,
        seed: int,
    ) -> Attribution:
        import torch
        from captum.attr import IntegratedGradients

        twin, inputs = prepare(model, x, target)
        p = parameters
        baseline = baseline_for(p.baseline, cast(ImageInput, model.manifest.input), x)
        baselines = torch.as_tensor(baseline, device=model.device)
        with torch.no_grad():
            score, baseline_score = (float(twin(z)[0, target]) for z in (inputs, baselines))
        if not takes_batches(twin, inputs):
            p = p.model_copy(update={"internal_batch_size": 1})
        difference = abs(score - baseline_score)
        ig = IntegratedGradients(twin)
        while True:
            values, delta = ig.attribute(
                inputs,
                baselines=baselines,
                target=target,
                n_steps=p.n_steps,
                method=p.method,
                internal_batch_size=p.internal_batch_size,
                return_convergence_delta=True,
            )
            quality = {
                "completeness_delta": abs(float(delta)),
                "score": score,
                "baseline_score": baseline_score,
            }
            if difference <= MIN_SCORE_DIFFERENCE:
                break
            quality["completeness_delta_relative"] = quality["completeness_delta"] / difference
            if (
                quality["completeness_delta_relative"] <= p.max_relative_delta
                or p.n_steps >= p.max_steps
            ):
                break
            p = p.model_copy(update={"n_steps": min(2 * p.n_steps, p.max_steps)})
        return attribution(
            method=self.name,
            model=model,
            values=values,
            target=target,
            parameters=p,
            seed=seed,
            baseline=baseline[0],
            quality=quality,
        )
