"""The catalogue of explanation methods and which bundles each supports.

Pure declarations on the manifest, so the API can refuse an unsupported method at prediction
time (422) without importing the worker; the worker's explainers use the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.bundles.manifest import Manifest


@dataclass(frozen=True)
class MethodSpec:
    name: str
    summary: str
    supports: Callable[[Manifest], bool]


def _image(m: Manifest) -> bool:
    return m.task == "image-classification" and m.model_family == "neural-network"


def _gradcam(m: Manifest) -> bool:
    return _image(m) and m.explanations.gradcam_layer is not None


def _tabular(m: Manifest) -> bool:
    return m.task == "tabular-classification"


def _trees(m: Manifest) -> bool:
    return _tabular(m) and m.model_family == "tree-ensemble"


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("integrated_gradients", "Integrated Gradients (Sundararajan 2017)", _image),
        MethodSpec("gradcam", "Grad-CAM on the manifest's target layer (Selvaraju 2017)", _gradcam),
        MethodSpec("saliency", "Gradient saliency (Simonyan 2013)", _image),
        MethodSpec("smoothgrad", "SmoothGrad: noise-averaged saliency (Smilkov 2017)", _image),
        MethodSpec(
            "tree_shap", "Exact TreeSHAP of the served tree ensemble (Lundberg 2020)", _trees
        ),
        MethodSpec("kernel_shap", "Kernel SHAP on the served model (Lundberg 2017)", _tabular),
        MethodSpec("permutation_shap", "Permutation SHAP on the served model", _tabular),
    )
}


def supported_methods(manifest: Manifest) -> list[str]:
    return [name for name, spec in METHODS.items() if spec.supports(manifest)]
