"""SmoothGrad: seeded noise (bit-identical per seed, global RNG untouched) and its limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from services.worker.explainers.integrated_gradients import IntegratedGradientsExplainer
from services.worker.explainers.saliency import SaliencyExplainer
from services.worker.explainers.smoothgrad import SmoothGradExplainer
from shared.methods import ParameterError
from tests.unit.explainers._image_bundle import image_model, random_input
from tests.unit.explainers._run import run


def _model(tmp_path):
    torch.manual_seed(0)  # a ReLU net: its gradient changes with the noise
    module = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, 2),
    )
    return image_model(tmp_path, module, mean=0.3, std=0.2)


def _explain(model, x, seed, **parameters):
    return run(SmoothGradExplainer(), model, x, seed=seed, **parameters)


def test_same_seed_same_values_other_seed_other_values(tmp_path) -> None:
    model = _model(tmp_path)
    x = random_input(model)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = _explain(model, x, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator was not touched
    torch.manual_seed(999)  # another global state: the job's seed alone decides the noise
    again, other = _explain(model, x, seed=7), _explain(model, x, seed=8)
    np.testing.assert_array_equal(first.values, again.values)
    assert not np.allclose(first.values, other.values)
    assert first.seed == 7
    assert first.parameters == {
        "base": "saliency",
        "nt_samples": 16,
        "abs": True,
        "stdevs": 0.15 * float(x.max() - x.min()),
    }


def test_without_noise_it_is_the_base_method(tmp_path) -> None:
    model = _model(tmp_path)
    x = random_input(model, seed=1)
    saliency = run(SaliencyExplainer(), model, x)
    smooth = _explain(model, x, seed=0, stdevs=0.0, nt_samples=4)
    # equal up to float32 rounding: a batch of 4 sums in another order than a batch of 1
    assert_allclose(smooth.values, saliency.values, rtol=1e-5, atol=1e-8)
    ig = run(IntegratedGradientsExplainer(), model, x, n_steps=8, max_steps=8)
    smooth_ig = _explain(
        model, x, seed=0, base="integrated_gradients", stdevs=0.0, nt_samples=2, n_steps=8
    )
    assert_allclose(smooth_ig.values, ig.values, rtol=1e-5, atol=1e-7)
    assert_allclose(smooth_ig.baseline, ig.baseline)
    assert smooth_ig.parameters["baseline"] == "black"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"stdevs": float("inf")}, "finite"),
        ({"stdevs": float("nan")}, "finite"),
        ({"nt_samples": 0}, "nt_samples: must be ≥ 1"),
        ({"stdevs": -1.0}, "stdevs: must be ≥ 0"),
        ({"base": "gradcam"}, "base: must be one of 'saliency' or 'integrated_gradients'"),
    ],
)
def test_unbounded_noise_parameters_are_refused(tmp_path, parameters, message) -> None:
    model = _model(tmp_path)
    with pytest.raises(ParameterError, match=message):
        _explain(model, random_input(model), seed=0, **parameters)
