"""Grad-CAM (Selvaraju et al. 2017): declaration and parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from shared.methods.quality import GRADIENT_FIGURES
from shared.methods.spec import MethodParameters, MethodSpec, image_network

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest


class GradCamParameters(MethodParameters):
    layer: str = Field(
        min_length=1,
        max_length=256,
        description="ONNX node name of the target layer; the manifest's gradcam_layer by default",
    )
    relu_attributions: bool = Field(True, description="keep only regions that raise the score")
    # "bicubic" is left out on purpose: it overshoots, so a ReLU'd map could turn negative.
    upsampling: Literal["bilinear", "nearest"] = Field(
        "bilinear", description="how the layer's coarse map is enlarged to the image"
    )


def _supports(manifest: Manifest) -> bool:
    return image_network(manifest) and manifest.explanations.gradcam_layer is not None


def _layer_of(manifest: Manifest) -> dict[str, Any]:
    layer = manifest.explanations.gradcam_layer
    return {} if layer is None else {"layer": layer}


SPEC = MethodSpec(
    name="gradcam",
    label="Grad-CAM",
    modality="image",
    summary="Grad-CAM on the manifest's target layer (Selvaraju 2017)",
    plain="Shows which regions of the image the network's last feature layer relied on for the "
    "diagnosed class. It is coarse (one value per region of that layer, enlarged to the "
    "image): it shows where the model looked, not which exact pixels mattered.",
    limitations="As coarse as the target layer; regions that lowered the score are hidden "
    "(relu_attributions), and the map does not add up to the score.",
    parameters=GradCamParameters,
    supports=_supports,
    quality=GRADIENT_FIGURES,
    bundle_defaults=_layer_of,
)
