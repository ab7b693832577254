"""A linear tabular pipeline exported by skl2onnx converts to a torch twin that matches ORT."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from services.worker.explainers.base import ExplainerError
from services.worker.twin import load_twin
from services.worker.twin.ml_converters import ML_DOMAIN


def _pipeline(data: tuple[np.ndarray, np.ndarray]) -> tuple[bytes, np.ndarray]:
    x, y = data
    x = x.astype(np.float32)
    pipeline = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=2000))])
    pipeline.fit(x, y)
    onnx_model = to_onnx(pipeline, x[:1], options={"zipmap": False})
    return onnx_model.SerializeToString(), x


@pytest.fixture(scope="module")
def breast_cancer() -> tuple[bytes, np.ndarray]:
    return _pipeline(load_breast_cancer(return_X_y=True))


def _ort(data: bytes, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"X": x})
    return label, probabilities


def test_breast_cancer_pipeline_matches_onnx_runtime(breast_cancer) -> None:
    data, x = breast_cancer
    ops = [node.op_type for node in __import__("onnx").load_model_from_string(data).graph.node]
    assert ops == ["Scaler", "LinearClassifier"]
    label, probabilities = _ort(data, x)
    with torch.no_grad():
        twin_label, twin_probabilities = load_twin(data)(torch.from_numpy(x))
    assert_array_equal(twin_label.numpy(), label)
    assert_allclose(twin_probabilities.numpy(), probabilities, atol=1e-5, rtol=0)
    assert 0.05 < label.mean() < 0.95  # both classes predicted: the label path is exercised


def test_probabilities_are_differentiable_in_the_features(breast_cancer) -> None:
    data, x = breast_cancer
    twin = load_twin(data)
    inputs = torch.from_numpy(x[:4]).requires_grad_(True)
    _, probabilities = twin(inputs)
    probabilities[:, 1].sum().backward()
    assert inputs.grad is not None
    # d p1 / d x = p1 (1 - p1) * w / sigma for logistic regression on standardised features
    scaler, classifier = (
        m for m in twin.modules() if type(m).__name__ in ("Scaler", "LinearClassifier")
    )
    p1 = probabilities[:, 1:].detach()
    weights = (classifier.coefficients[1] * scaler.scale).unsqueeze(0)
    assert_allclose(inputs.grad.numpy(), (p1 * (1 - p1) * weights).numpy(), rtol=1e-4, atol=1e-9)


def test_multiclass_softmax_pipeline_matches_onnx_runtime() -> None:
    data, x = _pipeline(load_iris(return_X_y=True))
    label, probabilities = _ort(data, x)
    with torch.no_grad():
        twin_label, twin_probabilities = load_twin(data)(torch.from_numpy(x))
    assert probabilities.shape == (150, 3)
    assert_array_equal(twin_label.numpy(), label)
    assert_allclose(twin_probabilities.numpy(), probabilities, atol=1e-5, rtol=0)


def test_zipmap_output_is_refused_clearly() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=2000))])
    onnx_model = to_onnx(pipeline.fit(x, y), x[:1].astype(np.float32))  # zipmap by default
    with pytest.raises(ExplainerError, match="ZipMap"):
        load_twin(onnx_model.SerializeToString())


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm) -> None:
    node = helper.make_node("Normalizer", ["x"], ["y"], domain=ML_DOMAIN, norm=norm)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ML_DOMAIN, 1)]
    data = helper.make_model(graph, opset_imports=opsets).SerializeToString()
    x = np.random.default_rng(0).uniform(0.1, 2.0, (5, 4)).astype(np.float32)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"x": x})
    with torch.no_grad():
        assert_allclose(load_twin(data)(torch.from_numpy(x)).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
def test_linear_classifier_post_transforms(post) -> None:
    rng = np.random.default_rng(0)
    coefficients = rng.standard_normal((3, 4)).round(2)
    node = helper.make_node(
        "LinearClassifier", ["x"], ["label", "scores"], domain=ML_DOMAIN,
        coefficients=coefficients.ravel().tolist(), intercepts=[0.5, -0.25, 0.0],
        classlabels_ints=[7, 8, 9], post_transform=post,
    )  # fmt: skip
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 3])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ML_DOMAIN, 1)]
    data = helper.make_model(graph, opset_imports=opsets).SerializeToString()
    x = rng.standard_normal((20, 4)).astype(np.float32)
    x[0] = 0  # SOFTMAX_ZERO: the third class scores exactly 0 here
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    label, scores = session.run(None, {"x": x})
    with torch.no_grad():
        twin_label, twin_scores = load_twin(data)(torch.from_numpy(x))
    assert_array_equal(twin_label.numpy(), label)
    assert set(label) == {7, 8, 9}
    assert_allclose(twin_scores.numpy(), scores, atol=1e-6, rtol=0)


def _classifier(**attributes) -> bytes:
    node = helper.make_node("LinearClassifier", ["x"], ["label", "scores"], domain=ML_DOMAIN,
                            coefficients=[1.0, -1.0], **attributes)  # fmt: skip
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2])],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(ML_DOMAIN, 1)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"classlabels_ints": [0, 1], "intercepts": [0.5]}, "one score for two classes"),
        ({"classlabels_strings": ["a", "b"], "intercepts": [0.0]}, "string labels"),
    ],
)
def test_linear_classifiers_without_a_tensor_form_are_refused_clearly(attributes, message) -> None:
    with pytest.raises(ExplainerError, match=message):
        load_twin(_classifier(**attributes))
