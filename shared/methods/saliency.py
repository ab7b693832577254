"""Gradient saliency (Simonyan et al. 2013): declaration and parameters."""

from __future__ import annotations

from pydantic import Field

from shared.methods.quality import GRADIENT_FIGURES
from shared.methods.spec import MethodParameters, MethodSpec, image_network


class SaliencyParameters(MethodParameters):
    abs: bool = Field(True, description="the gradient's magnitude; false keeps its sign")


SPEC = MethodSpec(
    name="saliency",
    label="Saliency",
    modality="image",
    summary="Gradient saliency (Simonyan 2013)",
    plain="Shows how strongly the model's score for the diagnosed class reacts to a tiny change "
    "of each pixel. Quick but noisy; it shows sensitivity, not contribution.",
    limitations="Local sensitivity only: a pixel can matter a lot and still have a small "
    "gradient where the model is saturated; the map is speckled.",
    parameters=SaliencyParameters,
    supports=image_network,
    quality=GRADIENT_FIGURES,
)
