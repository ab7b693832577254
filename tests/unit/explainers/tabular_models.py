"""Real tabular bundles for explainer tests: sklearn models exported with skl2onnx, or
hand-built ONNX tree ensembles, written to a bundle folder and served by ORT."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product
from math import factorial
from pathlib import Path
from typing import Any

import numpy as np

from services.worker.explainers.base import LoadedModel
from shared.bundles.manifest import (
    Explanations,
    Feature,
    Manifest,
    Output,
    TabularInput,
)
from shared.bundles.registry import MODEL_FILE, load_bundle, write_manifest

OUTPUT = "probabilities"


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Wisconsin breast-cancer data (ships with sklearn): float32 ``[569, 30]`` and labels."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    return x.astype(np.float32), y


def export(estimator: Any, n_features: int) -> bytes:
    """The fitted sklearn classifier as ONNX bytes: input ``input``, output ``probabilities``."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        estimator,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        options={id(estimator): {"zipmap": False}},
    )
    assert onnx_model.graph.output[1].name == OUTPUT
    return onnx_model.SerializeToString()


def stump(
    *,
    threshold: float,
    leaves: tuple[float, float],
    mode: str = "BRANCH_LEQ",
    n_features: int = 3,
    feature: int = 0,
    post_transform: str = "LOGISTIC",
    missing_tracks_true: int = 0,
    base_value: float = 0.0,
) -> bytes:
    """One split on ``feature``: the true child's vote is ``leaves[0]``, the false child's
    ``leaves[1]`` (votes for class 1 of a binary classifier, skl2onnx's layout)."""
    from onnx import TensorProto, helper

    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["input"],
        ["label", OUTPUT],
        domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0],
        nodes_nodeids=[0, 1, 2],
        nodes_featureids=[feature, 0, 0],
        nodes_values=[threshold, 0.0, 0.0],
        nodes_modes=[mode, "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        nodes_missing_value_tracks_true=[missing_tracks_true, 0, 0],
        class_treeids=[0, 0],
        class_nodeids=[1, 2],
        class_ids=[0, 0],
        class_weights=list(leaves),
        classlabels_int64s=[0, 1],
        base_values=[base_value],
        post_transform=post_transform,
    )
    graph = helper.make_graph(
        [node],
        "stump",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, n_features])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 2]),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def served_model(
    tmp_path: Path,
    model_bytes: bytes,
    *,
    background: np.ndarray,
    family: str = "tree-ensemble",
) -> LoadedModel:
    """A bundle folder with ``model_bytes`` and ``background``, loaded and served by ORT."""
    import onnxruntime

    n_features = background.shape[1]
    folder = tmp_path / "bundles" / "tabular" / "v1"
    manifest = Manifest(
        name="tabular",
        version="v1",
        task="tabular-classification",
        model_family=family,
        input=TabularInput(
            features=tuple(
                Feature(name=f"f{i}", minimum=-1e6, maximum=1e6) for i in range(n_features)
            )
        ),
        output=Output(name=OUTPUT, kind="probabilities", labels=("negative", "positive")),
        explanations=Explanations(background_file="background.npy"),
    )
    write_manifest(folder, manifest)
    (folder / MODEL_FILE).write_bytes(model_bytes)
    np.save(folder / "background.npy", background.astype(np.float32))
    bundle = load_bundle(folder)
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return LoadedModel(bundle=bundle, session=session, twin=None)


def exact_shapley(
    score: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    background: np.ndarray,
    link: Callable[[float], float] = float,
) -> tuple[np.ndarray, float]:
    """Shapley values ``[n_features]`` and v(empty) of the game
    ``v(S) = link(mean over background rows r of score(x_S, r_rest))``, by enumerating all
    ``2**n_features`` coalitions: the definition the sampling explainers estimate."""
    n = x.shape[1]
    games = {
        mask: link(float(score(np.where(np.array(mask), x, background)).mean()))
        for mask in product((False, True), repeat=n)
    }
    values = np.zeros(n)
    for mask, without in games.items():
        size = sum(mask)
        if size == n:
            continue
        weight = factorial(size) * factorial(n - size - 1) / factorial(n)
        for i in (i for i in range(n) if not mask[i]):
            values[i] += weight * (games[(*mask[:i], True, *mask[i + 1 :])] - without)
    return values, games[(False,) * n]
