"""Exact TreeSHAP from the served ONNX trees equals shap's TreeSHAP on the sklearn model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

from services.worker.explainers.base import ExplainerError, LoadedModel
from services.worker.explainers.tree_shap import TreeShapExplainer
from shared.methods import ParameterError
from tests.unit.explainers._run import run
from tests.unit.explainers.tabular_models import breast_cancer, export, served_model, stump

F32_ROUNDING = 2.0**-24  # relative error of storing a float64 leaf vote as float32
ROWS = slice(0, 569, 40)  # 15 rows spread over the data set


def _fit(kind: str, x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    if kind == "forest":  # no bootstrap: sklearn's node counts are then the training rows'
        return RandomForestClassifier(
            n_estimators=10, max_depth=4, bootstrap=False, max_features=5, random_state=0
        ).fit(x, y)
    depth = int(kind.removeprefix("gbt-depth"))
    return GradientBoostingClassifier(n_estimators=30, max_depth=depth, random_state=0).fit(x, y)


def _float32_floor(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each threshold: for float32 inputs ``x <= t`` exactly
    when ``x <= floor32(t)`` (skl2onnx stores sklearn's float64 thresholds this way)."""
    rounded = thresholds.astype(np.float32)
    below = np.where(rounded > thresholds, np.nextafter(rounded, np.float32(-np.inf)), rounded)
    return below.astype(np.float64)


def _explain(model: LoadedModel, x: np.ndarray, target: int, **parameters: Any) -> Any:
    return run(TreeShapExplainer(), model, x[None], target=target, **parameters)


@pytest.mark.parametrize("kind", ["gbt-depth1", "gbt-depth2", "gbt-depth4", "forest"])
@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_equals_shap_on_the_original_sklearn_model(
    tmp_path: Path, kind: str, perturbation: str
) -> None:
    import shap

    x, y = breast_cancer()
    clf = _fit(kind, x, y)
    # The training rows as background: path-dependent covers are then sklearn's node counts.
    model = served_model(tmp_path, export(clf, x.shape[1]), background=x)
    reference = shap.TreeExplainer(
        clf,
        data=x if perturbation == "interventional" else None,
        feature_perturbation=perturbation,
    )
    if perturbation == "interventional":
        # shap's interventional C++ kernel keeps thresholds as float32 rounded to nearest; when
        # that rounds up onto a data value (feature 27 of the forest: 0.1712f > 0.17119999975)
        # shap's reference sends the row the other way from sklearn and ORT. Give it the exact
        # float32 thresholds so the comparison measures the SHAP computation alone.
        reference.model.thresholds = _float32_floor(reference.model.thresholds)
    expected = np.asarray(reference.shap_values(x[ROWS], check_additivity=False))
    base = np.ravel(reference.expected_value)
    if kind == "forest":  # probabilities, one column per class
        per_target = {t: (expected[..., t], base[t]) for t in (0, 1)}
        largest_votes = [np.abs(e.tree_.value).max() / 10 for e in clf.estimators_]
    else:  # log-odds of class 1; class 0 is its negation
        per_target = {1: (expected, base[0]), 0: (-expected, -base[0])}
        largest_votes = [np.abs(e.tree_.value).max() * 0.1 for e in clf.estimators_[:, 0]]
    # SHAP values are linear in the leaf votes, each tree's within 2 * max|vote| of a change in
    # them, and ONNX stores votes as float32: the two computations differ by at most this.
    tolerance = 2 * F32_ROUNDING * sum(largest_votes) + 1e-12
    for target, (values, expected_value) in per_target.items():
        found = [
            _explain(model, row, target, feature_perturbation=perturbation, max_background=None)
            for row in x[ROWS]
        ]
        assert_allclose([a.values for a in found], values, rtol=0, atol=tolerance)
        base_tolerance = tolerance + F32_ROUNDING * abs(expected_value)  # base_values is float32
        assert_allclose([a.baseline for a in found], expected_value, rtol=0, atol=base_tolerance)


@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
def test_values_add_up_to_the_margin_of_the_parsed_trees_and_of_onnxruntime(
    tmp_path: Path, perturbation: str
) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = breast_cancer()
    clf = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    model = served_model(tmp_path, export(clf, x.shape[1]), background=x[::3])
    votes = sum(np.abs(e.tree_.value).max() * 0.1 for e in clf.estimators_[:, 0])
    # Path-dependent TreeSHAP runs in float64; shap's interventional kernel in float32.
    tolerance = 1e-12 if perturbation == "tree_path_dependent" else 2 * F32_ROUNDING * votes
    for row in x[ROWS]:
        p = model.scores(row[None])[0, 1]
        for target in (0, 1):
            attribution = _explain(model, row, target, feature_perturbation=perturbation)
            assert attribution.quality["additivity_error"] <= tolerance
            # ORT sums 100 float32 votes in float32 and serves a float32 probability (spacing
            # <= 2**-24); the log-odds it implies are only that precise: dlogit = dp/(p(1-p)).
            served = F32_ROUNDING * (100 * votes + 4 / (p * (1 - p)))
            assert attribution.quality["additivity_error_served"] <= tolerance + served
            assert attribution.quality["served_parity_max_abs_diff"] <= 1e-6


@pytest.mark.parametrize("perturbation", ["interventional", "tree_path_dependent"])
def test_a_stump_gives_its_feature_the_whole_difference_from_the_mean(
    tmp_path: Path, perturbation: str
) -> None:
    # f = 0.5 + (-1 if x1 <= 0 else 2) in log-odds; 4 background rows go left, 6 go right.
    model_bytes = stump(threshold=0.0, leaves=(-1.0, 2.0), feature=1, base_value=0.5)
    background = np.zeros((10, 3), dtype=np.float32)
    background[:, 1] = [-1.0] * 4 + [1.0] * 6
    model = served_model(tmp_path, model_bytes, background=background)
    row = np.array([3.0, -2.0, 7.0], dtype=np.float32)  # lands left: f(x) = -0.5
    mean = 0.5 + (4 * -1.0 + 6 * 2.0) / 10  # 1.3
    attribution = _explain(model, row, 1, feature_perturbation=perturbation)
    assert_allclose(attribution.values, [0.0, -0.5 - mean, 0.0], atol=1e-12)
    assert_allclose(attribution.baseline, mean, atol=1e-12)
    negated = _explain(model, row, 0, feature_perturbation=perturbation)
    assert_allclose(negated.values, [0.0, 0.5 + mean, 0.0], atol=1e-12)
    assert_allclose(negated.baseline, -mean, atol=1e-12)
    assert attribution.parameters == {"feature_perturbation": perturbation, "max_background": 50}
    assert attribution.model_sha256 == model.bundle.sha256
    assert {"shap", "numpy", "onnx", "onnxruntime"} <= set(attribution.library_versions)


def test_refuses_when_the_served_session_is_not_the_bundles_trees(tmp_path: Path) -> None:
    import onnxruntime

    background = np.linspace(-1, 1, 30, dtype=np.float32).reshape(10, 3)
    model = served_model(tmp_path, stump(threshold=0.0, leaves=(-1.0, 2.0)), background=background)
    other = stump(threshold=0.0, leaves=(-1.0, 2.5))
    session = onnxruntime.InferenceSession(other, providers=["CPUExecutionProvider"])
    swapped = LoadedModel(bundle=model.bundle, session=session, twin=None)
    with pytest.raises(ExplainerError, match="disagree with the served model"):
        _explain(swapped, background[0], 1)


def test_a_linear_model_is_refused(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = breast_cancer()
    model_bytes = export(LogisticRegression().fit(x[:, :3], y), 3)
    model = served_model(tmp_path, model_bytes, background=x[:20, :3])
    with pytest.raises(ExplainerError, match="needs one ONNX TreeEnsemble"):
        _explain(model, x[0, :3], 1)


@pytest.mark.parametrize(
    "parameters", [{"feature_perturbation": "observational"}, {"nsamples": 10}]
)
def test_unknown_parameters_are_refused(tmp_path: Path, parameters: dict[str, Any]) -> None:
    background = np.zeros((4, 3), dtype=np.float32)
    model = served_model(tmp_path, stump(threshold=0.0, leaves=(0.0, 1.0)), background=background)
    with pytest.raises(ParameterError, match="feature_perturbation|nsamples"):
        _explain(model, background[0], 1, **parameters)


def test_supports_tree_ensemble_bundles_only(tmp_path: Path) -> None:
    model_bytes = stump(threshold=0.0, leaves=(0.0, 1.0))
    background = np.zeros((4, 3), dtype=np.float32)
    trees = served_model(tmp_path / "trees", model_bytes, background=background)
    network = served_model(
        tmp_path / "nn", model_bytes, background=background, family="neural-network"
    )
    assert TreeShapExplainer().supports(trees.manifest)
    assert not TreeShapExplainer().supports(network.manifest)
