"""Kernel SHAP over a grid of superpixels (Lundberg & Lee 2017): declaration and parameters.

The one image method that needs no torch twin: it asks the served ONNX model only, so it is
offered for every image-classification bundle, including those onnx2torch cannot convert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from pydantic import Field

from shared.methods.integrated_gradients import Baseline, baseline_of
from shared.methods.quality import SUPERPIXEL_SHAP_FIGURES
from shared.methods.spec import MethodParameters, MethodSpec, ParameterProblem

if TYPE_CHECKING:
    from shared.bundles.manifest import ImageInput, Manifest

MAX_GRID = 32
"""Most cells per side: 32 x 32 = 1024 features is past what a few thousand samples estimate."""
MAX_SAMPLES = 100_000
"""Most coalitions: each is one forward pass of the served model on a whole image."""


class SuperpixelShapParameters(MethodParameters):
    grid: int = Field(
        4,
        ge=1,
        le=MAX_GRID,
        description="cells per side: the image is cut into grid x grid rectangles (the "
        "features), each switched between this image and the baseline as a whole",
    )
    # On a 32x32 ReLU CNN the largest error against 20000 samples, as a share of the largest
    # value, was 0.6 % at grid 4 with 512 samples (0.4 % at 1024), and 13.8 % / 6.4 % / 3.6 %
    # at grid 8 with 512 / 1024 / 2048. Each sample is one forward pass: a DenseNet-121 224²
    # took 142 s at grid 8 / 2048 on this CPU (bench/family_latency.py), so the defaults are
    # grid 4 / 512 (about a quarter of that); ask for a finer grid with more samples.
    nsamples: int = Field(
        512,
        ge=1,
        le=MAX_SAMPLES,
        description="coalitions of cells the served model is asked about (one forward pass "
        "each); with 2**(grid*grid) - 2 or more every coalition is enumerated and the values "
        "are exact",
    )
    baseline: Baseline = Field(
        "black",
        description="what an absent cell shows: black (intensity 0), blur (this image strongly "
        "blurred) or mean (its per-channel mean); the bundle's manifest sets the default",
    )


def image_classifier(manifest: Manifest) -> bool:
    """Any image-classification bundle: the method calls ONNX Runtime only."""
    return manifest.task == "image-classification"


def grid_fits(parameters: MethodParameters, manifest: Manifest) -> list[ParameterProblem]:
    grid = cast(SuperpixelShapParameters, parameters).grid
    spec = cast("ImageInput", manifest.input)
    if grid > min(spec.height, spec.width):
        side = min(spec.height, spec.width)
        return [ParameterProblem("grid", f"must be ≤ the image's shorter side ({side} px)")]
    return []


SPEC = MethodSpec(
    name="superpixel_shap",
    label="Superpixel SHAP",
    modality="image",
    summary="Kernel SHAP over a grid of superpixels, on the served model (Lundberg 2017)",
    plain="Cuts the image into a grid of rectangles and asks the served model about many "
    "versions of the image in which some rectangles are replaced by a plain baseline image; a "
    "weighted linear fit of the answers gives each rectangle's push on the score for the "
    "diagnosed class. The pushes add up to the difference between the score on this image and "
    "on the baseline (the additivity check below); being sampled, they are estimates.",
    limitations="As coarse as the grid (one value per rectangle, spread evenly over its "
    "pixels); a rectangle that looks like the baseline gets little credit; sampled values "
    "vary with the seed.",
    parameters=SuperpixelShapParameters,
    supports=image_classifier,
    quality=SUPERPIXEL_SHAP_FIGURES,
    bundle_defaults=baseline_of,
    bundle_check=grid_fits,
)
