"""TreeSHAP checked against the served output, which ORT computes and serves in float32.

* Additivity is checked on the served scale. For the class whose margin is negative ORT
  serves ``1 - v``, ``v`` the float32 sigmoid of ``|margin|``: a multiple of 2**-24, whose
  log-odds are only known to about 2**-24 / p, far coarser than the exact values.
* The parsed trees' parity with ORT is absolute up to 1 and relative beyond: ORT sums float32
  votes in float32, so a regressor's value in the thousands carries ~1e-4 of rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from numpy.testing import assert_allclose

from services.worker.explainers._tabular import logit
from services.worker.explainers.base import ExplainerError, LoadedModel
from services.worker.explainers.tree_shap import TreeShapExplainer
from shared.bundles.manifest import Explanations, Feature, Manifest, Output, TabularInput
from shared.bundles.registry import MODEL_FILE, load_bundle, write_manifest
from shared.methods.quality import SERVED_PARITY_TOLERANCE
from tests.unit.explainers._run import run
from tests.unit.explainers.tabular_models import served_model, stump

F32 = 2.0**-24
MARGIN = 12.0  # p = 6.1e-6: 103.08 multiples of 2**-24


@pytest.mark.parametrize("target", [1, 0])
def test_a_confident_row_adds_up_to_the_served_probability(tmp_path: Path, target: int) -> None:
    # f = -12 if x0 <= 0 else 12 in log-odds of class 1; half the background on each side
    model_bytes = stump(threshold=0.0, leaves=(-MARGIN, MARGIN))
    background = np.zeros((10, 3), dtype=np.float32)
    background[:, 0] = [-1.0] * 5 + [1.0] * 5
    model = served_model(tmp_path, model_bytes, background=background)
    row = np.array([[-1.0, 0.0, 0.0]], dtype=np.float32)
    p = model.scores(row)[0]
    assert p[1] * 2**24 == np.round(p[1] * 2**24)  # the small probability: 1 - v on float32
    margin = -MARGIN if target == 1 else MARGIN
    assert abs(logit(p[target]) - margin) > 1e-4  # its log-odds miss the margin
    attribution = run(TreeShapExplainer(), model, row, target=target)
    assert_allclose(attribution.values, [margin, 0.0, 0.0], atol=1e-12)
    assert attribution.quality["additivity_error"] <= 1e-12
    assert attribution.quality["additivity_error_served"] <= F32


def regressor(votes: np.ndarray, base: float) -> bytes:
    """``len(votes)`` stumps on feature 0 (``x0 <= 0``: ``votes[t, 0]``, else ``votes[t, 1]``)
    plus ``base``: a TreeEnsembleRegressor with output ``variable [N, 1]``."""
    from onnx import TensorProto, helper

    n = len(votes)
    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["input"],
        ["variable"],
        domain="ai.onnx.ml",
        nodes_treeids=np.repeat(np.arange(n), 3).tolist(),
        nodes_nodeids=[0, 1, 2] * n,
        nodes_featureids=[0, 0, 0] * n,
        nodes_values=[0.0, 0.0, 0.0] * n,
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * n,
        nodes_truenodeids=[1, 0, 0] * n,
        nodes_falsenodeids=[2, 0, 0] * n,
        target_treeids=np.repeat(np.arange(n), 2).tolist(),
        target_nodeids=[1, 2] * n,
        target_ids=[0, 0] * n,
        target_weights=votes.ravel().tolist(),
        base_values=[base],
        n_targets=1,
    )
    graph = helper.make_graph(
        [node],
        "regressor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def served_regressor(tmp_path: Path, model_bytes: bytes, background: np.ndarray) -> LoadedModel:
    folder = tmp_path / "bundles" / "area" / "v1"
    write_manifest(
        folder,
        Manifest(
            name="area",
            version="v1",
            task="tabular-classification",
            model_family="tree-ensemble",
            input=TabularInput(
                features=tuple(Feature(name=f"f{i}", minimum=-10, maximum=10) for i in range(2))
            ),
            output=Output(name="variable", kind="value", mode="regression", labels=("area",)),
            explanations=Explanations(background_file="background.npy"),
        ),
    )
    (folder / MODEL_FILE).write_bytes(model_bytes)
    np.save(folder / "background.npy", background)
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return LoadedModel(bundle=load_bundle(folder), session=session, twin=None)


def test_a_regression_in_the_thousands_is_explained_in_its_unit(tmp_path: Path) -> None:
    votes = np.stack([np.full(50, -3.3731), 100.37 + 0.0137 * np.arange(50)], axis=1)
    base = 880.58
    background = np.array([[-1.0, 0.0]] * 5 + [[1.0, 0.0]] * 5, dtype=np.float32)
    model = served_regressor(tmp_path, regressor(votes, base), background)
    row = np.array([[1.0, 0.0]], dtype=np.float32)  # every stump votes its right leaf
    value = model.scores(row)[0, 0]
    exact = base + votes[:, 1].astype(np.float32).astype(np.float64).sum()
    assert value > 5000 and abs(value - exact) > SERVED_PARITY_TOLERANCE  # float32 sums
    attribution = run(TreeShapExplainer(), model, row, target=0)
    largest = base + np.abs(votes).max(axis=1).sum()
    # one float32 rounding per tree: ORT's sum, and shap's interventional kernel (C floats)
    summing = (len(votes) + 1) * F32 * largest
    mean = base + votes.astype(np.float32).astype(np.float64).sum(axis=0).mean()
    assert_allclose(attribution.values, [exact - mean, 0.0], rtol=0, atol=summing)
    assert attribution.quality["served_parity_max_abs_diff"] <= SERVED_PARITY_TOLERANCE * value
    assert attribution.quality["additivity_error_served"] <= summing + F32 * largest


def test_a_regressor_that_is_not_the_served_one_is_still_refused(tmp_path: Path) -> None:
    votes = np.stack([np.full(50, -3.3731), np.full(50, 100.37)], axis=1)
    background = np.array([[-1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    model = served_regressor(tmp_path, regressor(votes, 880.58), background)
    other = votes.copy()
    other[7, 1] += 1.0  # one leaf a unit off, in a value of 5900
    session = onnxruntime.InferenceSession(
        regressor(other, 880.58), providers=["CPUExecutionProvider"]
    )
    swapped = LoadedModel(bundle=model.bundle, session=session, twin=None)
    with pytest.raises(ExplainerError, match="disagree with the served model"):
        run(TreeShapExplainer(), swapped, background[1:], target=0)
