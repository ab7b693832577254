"""Grad-CAM on models whose class activation map can be computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from services.worker.explainers.base import ExplainerError
from services.worker.explainers.gradcam import GradCamExplainer
from tests.unit.explainers._image_bundle import image_model
from tests.unit.explainers._run import run


class _Cam(nn.Module):
    """conv (fixed weights) -> ReLU -> GAP -> linear with class weights ``(-2, +3)``.

    For class ``c`` the gradient of ``y_c`` w.r.t. the single map ``A`` is ``w_c / (h w)``
    everywhere, so Grad-CAM is ``ReLU(w_c / (h w) * A)``: ``3 A / (h w)`` for class 1 and
    zero for class 0.
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, stride, stride=stride, bias=False)
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():  # the conv averages each stride x stride block over channels
            self.conv.weight.fill_(1.0 / (channels * stride * stride))
            self.head.weight.copy_(torch.tensor([[-2.0], [3.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _bright_top_left(channels: int, size: int) -> np.ndarray:
    x = np.full((1, channels, size, size), 0.1, np.float32)
    x[:, :, : size // 2, : size // 2] = 1.0
    return x


def _explain(model, x, target, **parameters):
    return run(GradCamExplainer(), model, x, target=target, **parameters)


def test_equals_the_hand_computed_map(tmp_path) -> None:
    model = image_model(tmp_path, _Cam(channels=1, stride=1), gradcam_layer="/conv/Conv")
    x = _bright_top_left(1, 8)
    result = _explain(model, x, target=1)
    assert_allclose(result.values, 3.0 * x[0] / 64, rtol=1e-5)  # layer map is 8x8: no resize
    assert result.parameters == {
        "layer": "/conv/Conv",
        "relu_attributions": True,
        "upsampling": "bilinear",
    }


def test_negative_class_weight_gives_zero_map(tmp_path) -> None:
    model = image_model(tmp_path, _Cam(channels=1, stride=1), gradcam_layer="/conv/Conv")
    result = _explain(model, _bright_top_left(1, 8), target=0)
    assert np.all(result.values == 0.0)
    signed = _explain(model, _bright_top_left(1, 8), target=0, relu_attributions=False)
    assert signed.values.max() < 0  # without the ReLU the map is -2 A / 64, all negative


def test_upsampled_map_peaks_in_the_bright_quadrant(tmp_path) -> None:
    model = image_model(
        tmp_path, _Cam(channels=3, stride=4), channels=3, size=16, gradcam_layer="/conv/Conv"
    )
    result = _explain(model, _bright_top_left(3, 16), target=1)
    assert result.values.shape == (3, 16, 16)
    assert np.array_equal(result.values[0], result.values[2])  # channels repeat one map
    plane = result.values[0]
    row, column = np.unravel_index(np.argmax(plane), plane.shape)
    assert row < 8 and column < 8
    # The 4x4 layer map is 3/16 on its top-left 2x2 block and 0.3/16 elsewhere; bilinear
    # upsampling keeps the block's value at the quadrant's inner pixels.
    assert_allclose(plane[:3, :3], 3.0 / 16, rtol=1e-5)
    assert_allclose(plane[-3:, -3:], 0.3 / 16, rtol=1e-5)


def test_unknown_layer_is_refused_with_close_names(tmp_path) -> None:
    model = image_model(tmp_path, _Cam(channels=1, stride=1), gradcam_layer="/conv/Conv")
    with pytest.raises(ExplainerError, match="conv/Conv"):
        _explain(model, _bright_top_left(1, 8), target=1, layer="/conv/Cnv")


def test_supported_only_with_a_target_layer(tmp_path) -> None:
    model = image_model(tmp_path, _Cam(channels=1, stride=1), gradcam_layer="/conv/Conv")
    assert GradCamExplainer().supports(model.manifest)
    without_layer = model.manifest.model_copy(
        update={
            "explanations": model.manifest.explanations.model_copy(update={"gradcam_layer": None})
        }
    )
    assert not GradCamExplainer().supports(without_layer)
