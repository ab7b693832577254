"""Inspection reads the graph's facts, and refuses what it cannot serve with the node named."""

from __future__ import annotations

import pytest

from services.admission import AdmissionError, DraftFlags, draft_manifest, inspect_model
from tests.unit.admission.graphs import conv_head, two_inputs


@pytest.mark.parametrize("pool", ["gap", "reducemean", "avgpool"])
def test_the_map_global_average_pooling_reads_is_the_gradcam_layer(pool: str) -> None:
    facts = inspect_model(conv_head(pool))
    assert (facts.gradcam_layer, facts.gradcam_tensor, facts.gradcam_reason) == (
        "features_relu",
        "features",
        None,
    )
    assert (facts.layout, facts.channels, facts.height, facts.width) == ("NCHW", 1, 16, 16)
    assert facts.dynamic_batch and facts.n_classes == 2


def test_no_global_average_pooling_leaves_gradcam_with_its_reason() -> None:
    facts = inspect_model(conv_head("none"))
    assert facts.gradcam_layer is None
    assert facts.gradcam_reason is not None and "MaxPool" in facts.gradcam_reason
    manifest = draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b")))
    assert manifest.explanations.gradcam_layer is None
    assert manifest.explanations.default_methods == ("integrated_gradients",)


@pytest.mark.parametrize(("head", "kind"), [("Softmax", "probabilities"), (None, "logits")])
def test_the_head_decides_how_the_output_is_read(head: str | None, kind: str) -> None:
    facts = inspect_model(conv_head("gap", head=head))
    assert facts.head == ("softmax" if head else "none")
    manifest = draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b")))
    assert manifest.output.kind == kind and manifest.output.name == "scores"
    assert "not normalised" in " ".join(manifest.model_card["inspection_notes"])


def test_a_sigmoid_over_several_columns_is_read_as_multilabel() -> None:
    facts = inspect_model(conv_head("gap", head="Sigmoid"))
    manifest = draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b")))
    assert (manifest.output.mode, manifest.output.kind) == ("multi-label", "probabilities")
    with pytest.raises(AdmissionError, match="--task single-label") as caught:
        draft_manifest(
            facts, DraftFlags(name="m", version="v1", labels=("a", "b"), task="single-label")
        )
    assert caught.value.where == "scores"


def test_two_inputs_are_refused_naming_them() -> None:
    with pytest.raises(AdmissionError, match=r"2 inputs \(a, b\)") as caught:
        inspect_model(two_inputs())
    assert caught.value.step == "inspect" and caught.value.where == "graph.input"


def test_a_dynamic_image_size_needs_a_declared_size() -> None:
    data = conv_head("gap", shape=("batch", 1, "h", "w"))
    facts = inspect_model(data)
    assert facts.height is None and facts.gradcam_layer is None
    with pytest.raises(AdmissionError, match="--input-size") as caught:
        draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b")))
    assert caught.value.where == "input"
    sized = inspect_model(data, image_size=(16, 16))
    manifest = draft_manifest(
        sized, DraftFlags(name="m", version="v1", labels=("a", "b"), image_size=(16, 16))
    )
    assert manifest.input.height == 16 and manifest.explanations.gradcam_layer == "features_relu"


def test_labels_must_match_the_classes_the_graph_has() -> None:
    facts = inspect_model(conv_head("gap"))
    with pytest.raises(AdmissionError, match="3 labels given but output 'scores' has 2"):
        draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b", "c")))
    with pytest.raises(AdmissionError, match="--labels"):
        draft_manifest(facts, DraftFlags(name="m", version="v1"))


def test_bytes_that_are_not_onnx_are_refused() -> None:
    with pytest.raises(AdmissionError, match="not an ONNX model") as caught:
        inspect_model(b"\x00not a model at all")
    assert caught.value.step == "onnx"


def _sklearn_onnx(model, options=None) -> bytes:
    import numpy as np
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    model.fit(x, np.arange(20) % 2)
    proto = convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, 2]))], options=options,
        target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    return proto.SerializeToString()


def test_a_zipmap_output_is_refused_with_the_export_option() -> None:
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(AdmissionError, match="zipmap=False") as caught:
        inspect_model(_sklearn_onnx(DecisionTreeClassifier(max_depth=2)))
    assert caught.value.where == "output_probability"


def test_a_tree_classifier_is_read_as_a_tree_ensemble_with_its_labels() -> None:
    from sklearn.tree import DecisionTreeClassifier

    data = _sklearn_onnx(DecisionTreeClassifier(max_depth=2), {"zipmap": False})
    facts = inspect_model(data)
    assert facts.tree_ensemble and facts.layout == "tabular" and facts.n_features == 2
    assert (facts.score_output, facts.label_output) == ("probabilities", "label")
    assert facts.class_labels == ("0", "1") and facts.head == "classifier-probabilities"


def test_a_regressor_is_read_as_a_regression_tree_ensemble() -> None:
    from sklearn.tree import DecisionTreeRegressor

    facts = inspect_model(_sklearn_onnx(DecisionTreeRegressor(max_depth=2)))
    assert facts.regressor and facts.tree_ensemble and facts.n_classes == 1
    with pytest.raises(AdmissionError, match="a regression output is one value") as caught:
        draft_manifest(facts, DraftFlags(name="m", version="v1", labels=("a", "b")))
    assert caught.value.where == "--labels"
