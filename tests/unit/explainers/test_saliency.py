"""Saliency on a linear model: the gradient is the class's weight vector."""

from __future__ import annotations

import torch
from numpy.testing import assert_allclose
from torch import nn

from services.worker.explainers import get_explainer
from services.worker.explainers.saliency import SaliencyExplainer
from tests.unit.explainers._image_bundle import image_model, random_input
from tests.unit.explainers._run import run


def test_linear_model_saliency_is_the_weights(tmp_path) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    model = image_model(tmp_path, module, channels=3, n_classes=3)
    x = random_input(model)
    weights = module[1].weight.detach().numpy()[2].reshape(3, 8, 8)
    explainer = SaliencyExplainer()
    result = run(explainer, model, x, target=2)
    assert_allclose(result.values, abs(weights), rtol=1e-6)
    assert result.parameters == {"abs": True}
    assert result.model_sha256 == model.bundle.sha256
    assert set(result.library_versions) == {"torch", "captum", "onnx2torch", "numpy"}
    signed = run(explainer, model, x, target=2, abs=False)
    assert_allclose(signed.values, weights, rtol=1e-6)


def test_gradient_explainers_are_registered_for_image_models(tmp_path) -> None:
    model = image_model(tmp_path, nn.Sequential(nn.Flatten(), nn.Linear(64, 2)))
    for name in ("integrated_gradients", "saliency", "smoothgrad"):
        explainer = get_explainer(name)
        assert explainer.name == name and explainer.supports(model.manifest)
    assert type(get_explainer("gradcam")).__name__ == "GradCamExplainer"
