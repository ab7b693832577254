"""The output's mode is read from the head; ``--task`` only settles what the graph leaves open,
and a flag for another mode (thresholds, unit, reference range) is refused naming it."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from services.admission import AdmissionError, DraftFlags, draft_manifest, inspect_model
from tests.unit.admission.graphs import FLOAT, conv_head, model

LABELS5 = ("a", "b", "c", "d", "e")


def dense(columns: int, head: str | None = None) -> bytes:
    """``[N, 3]`` rows -> Gemm -> ``[N, columns]`` [-> head]: a small tabular network."""
    weights = numpy_helper.from_array(np.ones((columns, 3), np.float32), "w")
    nodes = [helper.make_node("Gemm", ["input", "w"], ["z"], name="fc", transB=1)]
    if head is not None:
        nodes.append(helper.make_node(head, ["z"], ["scores"], name="head"))
    else:
        nodes[0].output[0] = "scores"
    return model(
        nodes,
        [helper.make_tensor_value_info("input", FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("scores", FLOAT, ["batch", columns])],
        [weights],
    )


def drafted(data: bytes, **flags: object):
    features = tuple({"name": f"x{i}", "minimum": 0.0, "maximum": 1.0} for i in range(3))
    base: dict[str, object] = {"name": "m", "version": "v1", "features": features}
    return draft_manifest(inspect_model(data), DraftFlags.model_validate(base | flags))


def test_a_sigmoid_head_is_multilabel_with_thresholds_per_finding() -> None:
    manifest = drafted(dense(5, "Sigmoid"), labels=LABELS5, thresholds=(0.2, 0.3, 0.4, 0.5, 0.6))
    output = manifest.output
    assert (output.mode, output.kind, output.labels) == ("multi-label", "probabilities", LABELS5)
    assert output.thresholds == (0.2, 0.3, 0.4, 0.5, 0.6)
    assert "multi-label probabilities (a Sigmoid per finding)" in " ".join(
        manifest.model_card["inspection_notes"]
    )


def test_one_threshold_applies_to_every_finding_and_none_means_one_half() -> None:
    assert (
        drafted(dense(5, "Sigmoid"), labels=LABELS5, thresholds=(0.3,)).output.thresholds
        == (0.3,) * 5
    )
    output = drafted(dense(5, "Sigmoid"), labels=LABELS5).output
    assert output.thresholds is None and output.threshold(4) == 0.5


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [((0.2, 0.3), "2 values for 5 findings"), ((1.0,), "strictly between 0 and 1")],
)
def test_bad_thresholds_are_refused_naming_the_flag(thresholds, message) -> None:
    with pytest.raises(AdmissionError, match=message) as caught:
        drafted(dense(5, "Sigmoid"), labels=LABELS5, thresholds=thresholds)
    assert caught.value.where == "--thresholds"


def test_plain_logits_are_multilabel_only_when_the_task_says_so() -> None:
    assert drafted(dense(5), labels=LABELS5).output.mode == "single-label"
    output = drafted(dense(5), labels=LABELS5, task="multi-label").output
    assert (output.mode, output.kind) == ("multi-label", "logits")
    image = inspect_model(conv_head("gap", head=None))
    flags = DraftFlags(name="m", version="v1", labels=("a", "b"), task="multi-label")
    assert draft_manifest(image, flags).output.mode == "multi-label"


def test_a_softmax_is_single_label_and_refuses_another_task() -> None:
    output = drafted(dense(3, "Softmax"), labels=("a", "b", "c")).output
    assert (output.mode, output.kind, output.positive_index) == ("single-label", "probabilities", 1)
    with pytest.raises(AdmissionError, match="--task multi-label but the output is single-label"):
        drafted(dense(3, "Softmax"), labels=("a", "b", "c"), task="multi-label")


def test_one_column_without_a_head_is_a_regression_value_with_its_unit_and_range() -> None:
    manifest = drafted(dense(1), labels=("risk",), unit="%", reference_range=(0.0, 20.0))
    output = manifest.output
    assert (output.mode, output.kind, output.labels) == ("regression", "value", ("risk",))
    assert (output.unit, output.reference_range) == ("%", (0.0, 20.0))
    assert drafted(dense(1)).output.labels == ("value",)  # the graph does not name it


def test_regression_flags_and_task_are_checked_against_the_output() -> None:
    with pytest.raises(AdmissionError, match="LOW must be ≤ HIGH") as caught:
        drafted(dense(1), reference_range=(5.0, 1.0))
    assert caught.value.where == "--reference-range"
    with pytest.raises(AdmissionError, match="--unit is for regression outputs") as caught:
        drafted(dense(5, "Sigmoid"), labels=LABELS5, unit="mmHg")
    assert caught.value.where == "--unit"
    with pytest.raises(AdmissionError, match="--thresholds is for multi-label") as caught:
        drafted(dense(1), thresholds=(0.5,))
    assert caught.value.where == "--thresholds"
    with pytest.raises(AdmissionError, match="has 3 columns; a regression output is one value"):
        drafted(dense(3), labels=("a", "b", "c"), task="regression")
    with pytest.raises(AdmissionError, match="one value: --labels names it") as caught:
        drafted(dense(1), labels=("a", "b"))
    assert caught.value.where == "--labels"


def test_one_sigmoid_column_is_one_finding_or_a_score_when_asked() -> None:
    output = drafted(dense(1, "Sigmoid"), labels=("nodule",)).output
    assert (output.mode, output.labels) == ("multi-label", ("nodule",))
    scored = drafted(dense(1, "Sigmoid"), labels=("risk",), task="regression").output
    assert (scored.mode, scored.kind) == ("regression", "value")
    with pytest.raises(AdmissionError, match="single-label needs one score per class"):
        drafted(dense(1), labels=("a",), task="single-label")


def _sklearn_onnx(estimator) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    estimator.fit(x, np.sin(x[:, 0]))
    proto = convert_sklearn(
        estimator, initial_types=[("input", FloatTensorType([None, 3]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    return proto.SerializeToString()


@pytest.mark.parametrize("kind", ["trees", "linear"])
def test_a_converter_regressor_is_regression_and_refuses_a_classification_task(kind) -> None:
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    estimator = GradientBoostingRegressor(n_estimators=3) if kind == "trees" else LinearRegression()
    data = _sklearn_onnx(estimator)
    manifest = drafted(data, labels=("score",), unit="points")
    assert (manifest.output.mode, manifest.output.kind) == ("regression", "value")
    assert manifest.model_family == ("tree-ensemble" if kind == "trees" else "neural-network")
    assert manifest.explanations.default_methods == (
        ("tree_shap",) if kind == "trees" else ("kernel_shap",)
    )
    with pytest.raises(AdmissionError, match="--task multi-label but the output is regression"):
        drafted(data, task="multi-label")
