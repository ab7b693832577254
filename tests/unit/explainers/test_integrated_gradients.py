"""Integrated Gradients on tiny served models: known answers and the completeness axiom."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from services.worker.explainers.base import ExplainerError
from services.worker.explainers.integrated_gradients import (
    IntegratedGradientsExplainer,
    baseline_for,
)
from shared.bundles.manifest import ImageInput
from shared.methods import ParameterError
from shared.methods.integrated_gradients import IntegratedGradientsParameters
from tests.unit.explainers._image_bundle import image_model, random_input
from tests.unit.explainers._run import run

DEFAULTS = IntegratedGradientsParameters().recorded()

MEAN, STD = 0.3, 0.2


def _linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 2))


def _smooth_cnn() -> nn.Module:
    """Conv, softplus, mean, linear: infinitely differentiable, so quadrature converges fast."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.Softplus(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


class _ReluCnn(nn.Module):
    """Two ReLU convs, GAP and a linear head; ``view(n, -1)`` as much user code writes it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv1, self.conv2 = nn.Conv2d(1, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).mean(dim=(2, 3), keepdim=True)
        return self.head(h.view(h.shape[0], -1))


def _explain(model, x, target=1, **parameters):
    return run(IntegratedGradientsExplainer(), model, x, target=target, **parameters)


def test_linear_model_attributions_are_input_minus_baseline_times_weight(tmp_path) -> None:
    module = _linear()
    model = image_model(tmp_path, module, mean=MEAN, std=STD)
    x = random_input(model)
    result = _explain(model, x, target=1)
    black = (0.0 - MEAN) / STD
    weights = module[1].weight.detach().numpy()[1].reshape(1, 8, 8)
    assert_allclose(result.values, (x[0] - black) * weights, rtol=1e-5, atol=1e-6)
    assert result.values.shape == (1, 8, 8) and result.values.dtype == np.float32
    assert_allclose(result.baseline, np.full((1, 8, 8), black, np.float32))
    assert result.parameters == {**DEFAULTS, "baseline": "black"}  # no doubling was needed
    assert result.quality["completeness_delta_relative"] < 1e-5


def test_completeness_on_a_smooth_model(tmp_path) -> None:
    model = image_model(tmp_path, _smooth_cnn(), mean=MEAN, std=STD)
    x = random_input(model, seed=3)
    result = _explain(model, x, target=0)
    baseline = np.full_like(x, (0.0 - MEAN) / STD)
    f_x, f_baseline = (model.scores(z)[0, 0] for z in (x, baseline))  # the served model (ORT)
    difference = f_x - f_baseline
    assert abs(difference) > 1e-3  # the check below is not vacuous
    # 32 Gauss-Legendre nodes integrate a smooth path to ~1e-7; forgetting (x - x') or using
    # another baseline would be off by O(|difference|), a thousand times this tolerance.
    assert_allclose(result.values.sum(), difference, rtol=1e-3)
    assert_allclose(result.quality["score"], f_x, rtol=1e-5)
    assert_allclose(result.quality["baseline_score"], f_baseline, rtol=1e-5)
    assert result.quality["completeness_delta_relative"] < 1e-3


def test_steps_double_until_the_cap_when_the_threshold_is_not_met(tmp_path) -> None:
    model = image_model(tmp_path, _ReluCnn())
    x = random_input(model, seed=4)
    result = _explain(
        model, x, n_steps=2, method="riemann_left", max_relative_delta=0.0, max_steps=20
    )
    assert result.parameters["n_steps"] == 20  # 2 -> 4 -> 8 -> 16 -> 20
    first = _explain(model, x, n_steps=2, method="riemann_left", max_steps=2)
    assert first.parameters["n_steps"] == 2
    assert result.quality["completeness_delta"] < first.quality["completeness_delta"]


def test_steps_stop_doubling_once_the_threshold_is_met(tmp_path) -> None:
    model = image_model(tmp_path, _ReluCnn())
    x = random_input(model, seed=4)
    coarse = _explain(model, x, n_steps=2, method="riemann_left", max_steps=2)
    threshold = coarse.quality["completeness_delta_relative"] / 2
    result = _explain(model, x, n_steps=2, method="riemann_left", max_relative_delta=threshold)
    assert 2 < result.parameters["n_steps"] < DEFAULTS["max_steps"]
    assert result.quality["completeness_delta_relative"] <= threshold


def test_fixed_batch_model_is_explained_one_step_at_a_time(tmp_path) -> None:
    module = _ReluCnn()
    batched = image_model(tmp_path / "a", module)
    fixed = image_model(tmp_path / "b", module, dynamic_batch=False)
    x = random_input(batched, seed=5)
    with pytest.raises(RuntimeError):  # the fixed-batch twin really refuses batches
        fixed.twin(torch.zeros(2, 1, 8, 8))
    expected, result = (_explain(m, x, n_steps=8, max_steps=8) for m in (batched, fixed))
    assert result.parameters["internal_batch_size"] == 1
    assert_allclose(result.values, expected.values, rtol=1e-4, atol=1e-6)


def test_baselines() -> None:
    spec = ImageInput(height=64, width=64, channels=3, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    black = baseline_for("black", spec, x)
    assert_allclose(black[0, :, 3, 5], [-2.5, -1.6, -0.6], rtol=1e-6)
    mean = baseline_for("mean", spec, x)
    assert_allclose(mean[0, :, 7, 2], x[0].mean(axis=(1, 2)), rtol=1e-5)
    blur = baseline_for("blur", spec, x)
    assert blur.shape == x.shape
    assert_allclose(blur.mean(axis=(2, 3)), x.mean(axis=(2, 3)), atol=0.05)  # mass kept
    assert np.all(blur.std(axis=(2, 3)) < x.std(axis=(2, 3)) / 10)  # detail removed


def test_unknown_parameter_and_target_are_refused(tmp_path) -> None:
    model = image_model(tmp_path, _linear())
    x = random_input(model)
    with pytest.raises(ParameterError, match="n_step: unknown parameter"):
        _explain(model, x, n_step=8)
    with pytest.raises(ExplainerError, match="target"):
        _explain(model, x, target=2)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"n_steps": 10**9}, "n_steps: must be ≤ 1024"),
        ({"internal_batch_size": 5000}, "internal_batch_size: must be ≤ 1024"),
        ({"n_steps": 0}, "n_steps: must be ≥ 1"),
        ({"n_steps": float("inf")}, "n_steps: must be an integer"),
        ({"max_relative_delta": float("nan")}, "max_relative_delta: must be a finite number"),
        ({"baseline": "white"}, "baseline: must be one of 'black', 'blur' or 'mean'"),
    ],
)
def test_unbounded_parameters_are_refused_before_any_work(tmp_path, parameters, message) -> None:
    model = image_model(tmp_path, _linear())
    with pytest.raises(ParameterError, match=message):
        _explain(model, random_input(model), **parameters)
