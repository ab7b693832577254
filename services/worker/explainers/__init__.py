"""Explainers, one per file, behind an explicit registry (modules are imported on first use).

Each explains one method declared in :mod:`shared.methods` and takes that method's validated
parameter model; a method declared there needs its explainer listed here, and the other way.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from services.worker.explainers.base import Attribution, Explainer, ExplainerError, LoadedModel
from shared.methods import METHODS

_IMPLEMENTATIONS: dict[str, str] = {
    "integrated_gradients": "integrated_gradients:IntegratedGradientsExplainer",
    "gradcam": "gradcam:GradCamExplainer",
    "saliency": "saliency:SaliencyExplainer",
    "smoothgrad": "smoothgrad:SmoothGradExplainer",
    "tree_shap": "tree_shap:TreeShapExplainer",
    "kernel_shap": "kernel_shap:KernelShapExplainer",
    "permutation_shap": "permutation_shap:PermutationShapExplainer",
    "superpixel_shap": "superpixel_shap:SuperpixelShapExplainer",
}
assert set(_IMPLEMENTATIONS) == set(METHODS), "every catalogued method needs an explainer"


def get_explainer(method: str) -> Explainer[Any]:
    try:
        module_name, class_name = _IMPLEMENTATIONS[method].split(":")
    except KeyError:
        raise ExplainerError(f"unknown explanation method {method!r}") from None
    module = import_module(f"{__name__}.{module_name}")
    explainer: Explainer[Any] = getattr(module, class_name)()
    return explainer


__all__ = ["Attribution", "Explainer", "ExplainerError", "LoadedModel", "get_explainer"]
