"""Integrated Gradients (Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep
Networks", https://arxiv.org/abs/1703.01365) with Captum, on the served model's torch twin.

``IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x')) / dx_i da``, approximated by an
``n_steps`` quadrature. Completeness says ``sum_i IG_i = F(x) - F(x')``; the gap (Captum's
convergence delta) is reported, and ``n_steps`` doubles until the gap relative to
``|F(x) - F(x')|`` is at most ``max_relative_delta`` or ``n_steps`` reaches ``max_steps``.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from services.worker.explainers._gradients import (
    GradientExplainer,
    attribution,
    merge_parameters,
    prepare,
    require,
    takes_batches,
)
from services.worker.explainers.base import Attribution, LoadedModel
from shared.bundles.manifest import ImageInput

# Steps per forward/backward pass (bench/ig_batching.py --threads 1, 1x128x128 demo CNN): all
# 32 steps in one batch was the slowest, 1.2-1.4x slower than chunks of 8 with 2-3x the extra
# peak memory; 8, 10 and 12 were within noise, and 8 divides every n_steps from 32 to 256.
INTERNAL_BATCH_SIZE = 8
DEFAULTS: dict[str, Any] = {
    "n_steps": 32,
    "method": "gausslegendre",
    "internal_batch_size": INTERNAL_BATCH_SIZE,
    "max_relative_delta": 0.05,
    "max_steps": 256,
}
QUADRATURES = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
)
# The "blur" baseline: a Gaussian of this fraction of the image side (Sturmfels et al. 2020,
# "Visualizing the Impact of Feature Attribution Baselines", Distill).
BLUR_SIGMA_FRACTION = 0.1
# Below this |F(x) - F(x')| the relative completeness gap is undefined and not reported.
MIN_SCORE_DIFFERENCE = 1e-6


BASELINES = ("black", "blur", "mean")
MAX_STEPS = 1024  # a bundle asking for more is refused: 10**9 steps would hang the worker


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


def check_path_parameters(p: dict[str, Any]) -> None:
    """Refuse impossible ``n_steps``, ``internal_batch_size``, ``method`` or ``baseline``."""
    require(p["n_steps"] >= 1 and p["internal_batch_size"] >= 1, "steps must be positive")
    require(
        p["n_steps"] <= MAX_STEPS and p["internal_batch_size"] <= MAX_STEPS,
        f"n_steps and internal_batch_size are at most {MAX_STEPS}",
    )
    require(p["method"] in QUADRATURES, f"no integration method {p['method']!r}")
    require(p["baseline"] in BASELINES, f"no baseline {p['baseline']!r}")


class IntegratedGradientsExplainer(GradientExplainer):
    name = "integrated_gradients"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: dict[str, Any],
        seed: int,
    ) -> Attribution:
        import torch
        from captum.attr import IntegratedGradients

        twin, inputs = prepare(model, x, target)
        defaults = {**DEFAULTS, "baseline": model.manifest.explanations.baseline}
        p = merge_parameters(self.name, parameters, defaults)
        check_path_parameters(p)
        baseline = baseline_for(p["baseline"], cast(ImageInput, model.manifest.input), x)
        baselines = torch.as_tensor(baseline, device=model.device)
        with torch.no_grad():
            score, baseline_score = (float(twin(z)[0, target]) for z in (inputs, baselines))
        if not takes_batches(twin, inputs):
            p["internal_batch_size"] = 1
        difference = abs(score - baseline_score)
        ig = IntegratedGradients(twin)
        while True:
            values, delta = ig.attribute(
                inputs,
                baselines=baselines,
                target=target,
                n_steps=p["n_steps"],
                method=p["method"],
                internal_batch_size=p["internal_batch_size"],
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
                quality["completeness_delta_relative"] <= p["max_relative_delta"]
                or p["n_steps"] >= p["max_steps"]
            ):
                break
            p["n_steps"] = min(2 * p["n_steps"], p["max_steps"])
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
