"""Integrated Gradients (Sundararajan, Taly & Yan 2017): declaration and parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from shared.methods.quality import GRADIENT_FIGURES
from shared.methods.spec import MethodParameters, MethodSpec, image_network

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest

MAX_STEPS = 1024
"""Most quadrature steps (and steps per pass): 10**9 steps would hang the worker."""
Baseline = Literal["black", "blur", "mean"]
Quadrature = Literal[
    "gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"
]
# Steps per forward/backward pass (bench/ig_batching.py --threads 1, 1x128x128 demo CNN): all
# 32 steps in one batch was the slowest, 1.2-1.4x slower than chunks of 8 with 2-3x the extra
# peak memory; 8, 10 and 12 were within noise, and 8 divides every n_steps from 32 to 256.
INTERNAL_BATCH_SIZE = 8


class PathParameters(MethodParameters):
    """The integration path, shared with SmoothGrad over Integrated Gradients."""

    n_steps: int = Field(32, ge=1, le=MAX_STEPS, description="quadrature steps (to start with)")
    method: Quadrature = Field("gausslegendre", description="quadrature rule")
    internal_batch_size: int = Field(
        INTERNAL_BATCH_SIZE, ge=1, le=MAX_STEPS, description="steps per forward/backward pass"
    )
    baseline: Baseline = Field(
        "black",
        description="the reference image: black (intensity 0), blur (this image strongly "
        "blurred) or mean (its per-channel mean); the bundle's manifest sets the default",
    )


class IntegratedGradientsParameters(PathParameters):
    max_relative_delta: float = Field(
        0.05,
        ge=0,
        description="n_steps doubles until the completeness gap is at most this share of the "
        "score change",
    )
    max_steps: int = Field(256, ge=1, le=MAX_STEPS, description="n_steps doubles up to this")


def baseline_of(manifest: Manifest) -> dict[str, Any]:
    return {"baseline": manifest.explanations.baseline}


SPEC = MethodSpec(
    name="integrated_gradients",
    label="Integrated Gradients",
    modality="image",
    summary="Integrated Gradients (Sundararajan 2017)",
    plain="Fades the image in from a plain baseline image and adds up, pixel by pixel, how the "
    "model's score for the diagnosed class responds along the way. Highlighted pixels pushed "
    "the score towards the diagnosis. The contributions add up to the difference between the "
    "score on this image and on the baseline (the completeness check below).",
    limitations="The map depends on the baseline chosen: a feature that looks like the baseline "
    "(e.g. black regions against a black baseline) gets no credit however much it matters.",
    parameters=IntegratedGradientsParameters,
    supports=image_network,
    quality=(
        "completeness_delta",
        "completeness_delta_relative",
        "score",
        "baseline_score",
        *GRADIENT_FIGURES,
    ),
    bundle_defaults=baseline_of,
)
