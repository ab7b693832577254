"""Permutation SHAP on the served ORT model: exact for pairwise interactions, additive, and
reproducible from its seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from services.worker.explainers.base import LoadedModel
from services.worker.explainers.permutation_shap import PermutationShapExplainer
from services.worker.explainers.tree_shap import TreeShapExplainer
from shared.methods import ParameterError
from tests.unit.explainers._run import run
from tests.unit.explainers.tabular_models import (
    breast_cancer,
    exact_shapley,
    export,
    served_model,
    stump,
)


def _explain(model: LoadedModel, row: np.ndarray, seed: int = 0, **parameters: Any) -> Any:
    return run(PermutationShapExplainer(), model, row[None], seed=seed, **parameters)


def test_one_walk_is_exact_for_a_forest_of_depth_two(tmp_path: Path) -> None:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(
        n_samples=300, n_features=5, n_informative=4, n_redundant=0, random_state=1
    )
    x = x.astype(np.float32)
    clf = RandomForestClassifier(n_estimators=10, max_depth=2, random_state=0).fit(x, y)
    # The served probability is a sum of depth-2 trees: no interaction beyond pairs, where one
    # forward-and-back walk is exact. 30 background rows: all of them are used.
    model = served_model(tmp_path, export(clf, 5), background=x[:30])
    probability = lambda batch: model.scores(batch)[:, 1]  # noqa: E731
    for row in x[100:105]:
        found = _explain(model, row, max_evals=11)  # 2 * 5 + 1 evaluations: one walk
        values, empty = exact_shapley(probability, row[None], x[:30])
        tree = run(TreeShapExplainer(), model, row[None])
        # ORT may sum trees in another order for another batch: probabilities agree to ~1e-7;
        # shap's interventional TreeSHAP kernel runs in float32.
        assert_allclose(found.values, values, rtol=0, atol=1e-7)
        assert_allclose(found.baseline, empty, rtol=0, atol=1e-7)
        assert_allclose(found.values, tree.values, rtol=0, atol=1e-6)


def test_values_add_up_and_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = breast_cancer()
    clf = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    model = served_model(tmp_path, export(clf, 30), background=x[::4])
    state = np.random.get_state()
    first = _explain(model, x[7], seed=11)
    again = _explain(model, x[7], seed=11)
    other = _explain(model, x[7], seed=12)
    assert_array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)
    assert_array_equal(np.random.get_state()[1], state[1])  # the caller's generator is untouched
    for attribution in (first, other, _explain(model, x[7], link="logit", max_evals=122)):
        explained = attribution.baseline + attribution.values.sum()
        assert attribution.quality["additivity_error"] <= 1e-6 * max(1.0, abs(explained))
    assert first.parameters == {"max_evals": 10 * 61, "max_background": 50, "link": "identity"}


def test_fewer_evaluations_than_one_walk_are_refused(tmp_path: Path) -> None:
    background = np.zeros((4, 3), dtype=np.float32)
    model = served_model(tmp_path, stump(threshold=0.0, leaves=(0.0, 1.0)), background=background)
    with pytest.raises(ParameterError, match=r"max_evals: must be ≥ 7 \(one walk\)"):
        _explain(model, background[0], max_evals=6)
