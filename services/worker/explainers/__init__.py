"""Explainers, one per file, behind an explicit registry (modules are imported on first use)."""

from __future__ import annotations

from importlib import import_module

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
}
assert set(_IMPLEMENTATIONS) == set(METHODS), "every catalogued method needs an explainer"


def get_explainer(method: str) -> Explainer:
    try:
        module_name, class_name = _IMPLEMENTATIONS[method].split(":")
    except KeyError:
        raise ExplainerError(f"unknown explanation method {method!r}") from None
    module = import_module(f"{__name__}.{module_name}")
    explainer: Explainer = getattr(module, class_name)()
    return explainer


__all__ = ["Attribution", "Explainer", "ExplainerError", "LoadedModel", "get_explainer"]
