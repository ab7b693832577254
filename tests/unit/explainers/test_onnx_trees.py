"""The trees read from ONNX attributes compute exactly what ORT serves."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from services.worker.explainers.base import ExplainerError
from services.worker.onnx_trees import UNCOVERED_LEAF_WEIGHT, parse_tree_ensemble
from tests.unit.explainers.tabular_models import OUTPUT, breast_cancer, export, stump

F32_ULP_AT_ONE = 2.0**-24  # float32 spacing just below 1.0: the resolution of ORT's probabilities


def _ort(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {"input": x})[0].astype(np.float64)


@pytest.mark.parametrize("kind", ["gbt-depth1", "gbt-depth3", "forest", "forest-3-classes"])
def test_parsed_trees_reproduce_onnxruntime_on_every_row(kind: str) -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    x, y = breast_cancer()
    if kind.startswith("forest"):
        y = y + (x[:, 0] > 15) if kind.endswith("classes") else y
        clf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    else:
        clf = GradientBoostingClassifier(n_estimators=40, max_depth=int(kind[-1]), random_state=0)
    model_bytes = export(clf.fit(x, y), x.shape[1])
    ensemble = parse_tree_ensemble(model_bytes, input_name="input", n_features=x.shape[1])
    served = _ort(model_bytes, x)
    assert ensemble.logistic == kind.startswith("gbt")
    for target in range(served.shape[1]):
        # ORT sums float32 votes in float32; 40 trees add at most a few ulps of 1.0.
        assert_allclose(ensemble.served(ensemble.margin(x, target)), served[:, target], atol=1e-6)
    # and the margins are sklearn's own (log-odds for boosting, probability for the forest)
    expected = clf.decision_function(x) if kind.startswith("gbt") else clf.predict_proba(x)[:, 1]
    assert_allclose(ensemble.margin(x, 1), expected, atol=1e-5)


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GT", "BRANCH_GTE"])
@pytest.mark.parametrize("missing_tracks_true", [0, 1])
def test_every_split_mode_sends_rows_where_onnxruntime_does(
    mode: str, missing_tracks_true: int
) -> None:
    t = np.float32(0.3)  # not representable: the float32 threshold itself must be compared
    model_bytes = stump(
        threshold=float(t), leaves=(-1.0, 2.0), mode=mode, missing_tracks_true=missing_tracks_true
    )
    column = np.array(
        [np.nextafter(t, np.float32(-1)), t, np.nextafter(t, np.float32(1)), np.nan, -5, 5],
        dtype=np.float32,
    )
    x = np.zeros((len(column), 3), dtype=np.float32)
    x[:, 0] = column
    ensemble = parse_tree_ensemble(model_bytes, input_name="input", n_features=3)
    served = _ort(model_bytes, x)
    margin = ensemble.margin(x, 1)
    assert set(margin) == {-1.0, 2.0}
    assert_allclose(ensemble.served(margin), served[:, 1], atol=F32_ULP_AT_ONE)
    assert_allclose(ensemble.served(ensemble.margin(x, 0)), served[:, 0], atol=F32_ULP_AT_ONE)


def test_covers_count_background_rows_and_empty_leaves_get_a_tiny_weight() -> None:
    model_bytes = stump(threshold=0.0, leaves=(-1.0, 1.0))
    ensemble = parse_tree_ensemble(model_bytes, input_name="input", n_features=3)
    x = np.zeros((7, 3), dtype=np.float32)
    x[:, 0] = [-1, -1, -1, -1, 0, 1, 1]  # five rows go to the true (left) leaf, two to the right
    assert_array_equal(ensemble.covers(x), [[7.0, 5.0, 2.0]])
    x[:, 0] = -1.0  # no row reaches the right leaf: it gets a tiny, positive cover
    tiny = UNCOVERED_LEAF_WEIGHT
    assert_array_equal(ensemble.covers(x), [[7.0 + tiny, 7.0, tiny]])


def test_covers_from_the_training_rows_are_sklearns_node_counts() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = breast_cancer()
    clf = GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0).fit(x, y)
    ensemble = parse_tree_ensemble(export(clf, x.shape[1]), input_name="input", n_features=30)
    covers = ensemble.covers(x)
    for t, estimator in enumerate(clf.estimators_[:, 0]):
        node_counts = estimator.tree_.weighted_n_node_samples
        assert_array_equal(covers[t, : len(node_counts)], node_counts)


def test_a_linear_model_is_refused_with_a_clear_reason() -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = breast_cancer()
    model_bytes = export(LogisticRegression().fit(x[:, :3], y), 3)
    with pytest.raises(ExplainerError, match="TreeEnsembleClassifier/Regressor.*LinearClassifier"):
        parse_tree_ensemble(model_bytes, input_name="input", n_features=3)


def test_a_softmax_multiclass_ensemble_is_refused_with_a_clear_reason() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = breast_cancer()
    three_classes = y + (x[:, 0] > 15)
    clf = GradientBoostingClassifier(n_estimators=3, max_depth=2).fit(x, three_classes)
    with pytest.raises(ExplainerError, match="post_transform SOFTMAX is not supported"):
        parse_tree_ensemble(export(clf, 30), input_name="input", n_features=30)


def test_equality_splits_are_refused() -> None:
    with pytest.raises(ExplainerError, match=r"split modes \['BRANCH_EQ'\]"):
        parse_tree_ensemble(
            stump(threshold=1.0, leaves=(0.0, 1.0), mode="BRANCH_EQ"),
            input_name="input",
            n_features=3,
        )
