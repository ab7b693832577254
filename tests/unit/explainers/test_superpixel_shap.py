"""Superpixel SHAP on the served ORT model, with no torch twin: it recovers each cell's
contribution to a model linear in its pixels, equals brute-force Shapley values when every
coalition is enumerated, adds up, and is reproducible from its seed."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from services.worker.explainers.base import LoadedModel
from services.worker.explainers.integrated_gradients import baseline_for
from services.worker.explainers.superpixel_shap import (
    SuperpixelShapExplainer,
    cell_map,
    cell_values,
)
from shared.bundles.manifest import ImageInput
from shared.methods import METHODS, ParameterError, supported_methods
from shared.methods.quality import ADDITIVITY_BOUND
from tests.unit.explainers._image_bundle import image_model, random_input
from tests.unit.explainers._run import run

SIZE = 8


def _served(tmp_path: Path, module: nn.Module, **kwargs: Any) -> LoadedModel:
    """``module`` served by ORT alone: the twin is dropped, as for a model onnx2torch lacks."""
    return dataclasses.replace(image_model(tmp_path, module, size=SIZE, **kwargs), twin=None)


def _linear(channels: int) -> nn.Module:
    """Scores linear in the 2x2 block means: a known answer for every superpixel grid."""
    torch.manual_seed(0)
    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(channels * 16, 3))


def _nonlinear() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def _explain(model: LoadedModel, x: np.ndarray, seed: int = 0, **parameters: Any) -> Any:
    return run(SuperpixelShapExplainer(), model, x, seed=seed, **parameters)


def _with_cells(x: np.ndarray, baseline: np.ndarray, cells: np.ndarray, on: set[int]) -> np.ndarray:
    return np.where(np.isin(cells, list(on)), x, baseline).astype(np.float32)


@pytest.mark.parametrize(("grid", "baseline"), [(4, "black"), (3, "mean"), (2, "blur")])
def test_each_cells_contribution_to_a_linear_model_is_recovered(
    tmp_path: Path, grid: int, baseline: str
) -> None:
    # For a game linear in the pixels, cell k's Shapley value is f(b + 1_k (x - b)) - f(b);
    # grid 3 cuts the 8-pixel sides into bands 3, 3, 2 that straddle the model's 2x2 blocks.
    module = _linear(channels=3).double()
    model = _served(tmp_path, _linear(channels=3), channels=3, n_classes=3, mean=0.5, std=0.25)
    x = random_input(model)
    spec = model.manifest.input
    assert isinstance(spec, ImageInput)
    reference = baseline_for(baseline, spec, x)
    cells = cell_map(SIZE, SIZE, grid)
    with torch.no_grad():
        score = lambda image: float(module(torch.from_numpy(image).double())[0, 1])  # noqa: E731
        expected = [
            score(_with_cells(x, reference, cells, {k})) - score(reference)
            for k in range(grid * grid)
        ]
    found = _explain(model, x, grid=grid, nsamples=200, baseline=baseline)
    # ORT's float32 arithmetic against float64: values of order 1 agree to ~1e-6.
    assert_allclose(cell_values(found.values, grid), expected, rtol=0, atol=1e-5)
    assert found.values.shape == (3, SIZE, SIZE) and found.values.dtype == np.float32
    assert_array_equal(found.baseline, reference[0])


def test_enumerating_every_coalition_gives_the_exact_shapley_values(tmp_path: Path) -> None:
    model = _served(tmp_path, _nonlinear())
    x = random_input(model, seed=3)
    spec = model.manifest.input
    assert isinstance(spec, ImageInput)
    black = baseline_for("black", spec, x)
    cells = cell_map(SIZE, SIZE, 2)
    n = 4
    games = {
        coalition: float(model.scores(_with_cells(x, black, cells, set(coalition)))[0, 1])
        for size in range(n + 1)
        for coalition in itertools.combinations(range(n), size)
    }
    exact = np.zeros(n)
    for coalition, value in games.items():
        for k in range(n):
            if k in coalition:
                others = tuple(j for j in coalition if j != k)
                weight = math.factorial(len(others)) * math.factorial(n - len(coalition))
                exact[k] += weight / math.factorial(n) * (value - games[others])
    found = _explain(model, x, grid=2, nsamples=14)  # 2**4 - 2: every coalition
    # The same float32 ORT scores feed both; float64 regression against float64 sums.
    assert_allclose(cell_values(found.values, 2), exact, rtol=0, atol=1e-6)
    assert found.quality["score"] == games[(0, 1, 2, 3)]
    assert found.quality["baseline_score"] == games[()]


def test_sampled_values_add_up_and_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    model = _served(tmp_path, _nonlinear())
    x = random_input(model, seed=5)
    first = _explain(model, x, seed=7, grid=8, nsamples=300)
    again = _explain(model, x, seed=7, grid=8, nsamples=300)
    other = _explain(model, x, seed=8, grid=8, nsamples=300)
    assert_array_equal(first.values, again.values)  # a replay gets the archived bytes
    assert first.quality == again.quality
    assert not np.array_equal(first.values, other.values)  # sampled: the seed matters
    q = first.quality
    change = q["score"] - q["baseline_score"]
    assert abs(change) > 1e-3  # a non-trivial sum to add up to
    gap = abs(float(first.values.sum(dtype=np.float64)) - change)
    assert gap == pytest.approx(q["superpixel_additivity_error"], abs=1e-12)
    # Exact by construction (shap eliminates one unknown); float32 storage of 64 values.
    assert q["superpixel_additivity_error"] <= 1e-6 < ADDITIVITY_BOUND
    assert first.seed == 7 and first.parameters["nsamples"] == 300


def test_each_cells_value_is_spread_evenly_over_its_pixels(tmp_path: Path) -> None:
    model = _served(tmp_path, _linear(channels=3), channels=3, n_classes=3)
    found = _explain(model, random_input(model), grid=3, nsamples=100)
    per_cell = cell_values(found.values, 3)
    cells = cell_map(SIZE, SIZE, 3)
    pixels = np.bincount(cells.ravel())
    assert pixels.tolist() == [9, 9, 6, 9, 9, 6, 6, 6, 4]  # bands of 3, 3 and 2 pixels
    for channel in found.values:
        assert_allclose(channel, (per_cell / (3 * pixels))[cells], rtol=1e-6, atol=0)


def test_a_model_exported_with_a_batch_of_one_is_explained_the_same(tmp_path: Path) -> None:
    batched = _served(tmp_path / "a", _nonlinear())
    single = _served(tmp_path / "b", _nonlinear(), dynamic_batch=False)
    x = random_input(batched, seed=2)
    a, b = (_explain(m, x, grid=4, nsamples=100) for m in (batched, single))
    # One image per ORT call instead of 16: float32 sums in another order.
    assert_allclose(a.values, b.values, rtol=0, atol=1e-6)


def test_it_is_offered_for_every_image_model_and_refuses_a_grid_finer_than_the_image(
    tmp_path: Path,
) -> None:
    model = _served(tmp_path, _linear(channels=1), n_classes=3)
    manifest = model.manifest
    assert "superpixel_shap" in supported_methods(manifest)
    tree_image = manifest.model_copy(update={"model_family": "tree-ensemble"})
    assert supported_methods(tree_image) == ["superpixel_shap"]  # nothing to differentiate
    with pytest.raises(ParameterError) as refused:
        METHODS["superpixel_shap"].resolve(manifest, {"grid": SIZE + 1})
    assert [p.field for p in refused.value.problems] == ["grid"]
    assert METHODS["superpixel_shap"].resolve(manifest, {"grid": SIZE}).grid == SIZE  # type: ignore[attr-defined]
