"""Kernel SHAP on the served ORT model: exact when every coalition is enumerated, additive,
and reproducible from its seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from services.worker.explainers._tabular import logit
from services.worker.explainers.base import LoadedModel
from services.worker.explainers.kernel_shap import KernelShapExplainer
from services.worker.explainers.tree_shap import TreeShapExplainer
from shared.methods import ParameterError
from tests.unit.explainers._run import run
from tests.unit.explainers.tabular_models import (
    breast_cancer,
    exact_shapley,
    export,
    served_model,
)


def _five_features(tmp_path: Path, kind: str) -> tuple[LoadedModel, np.ndarray]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    x, y = make_classification(
        n_samples=300, n_features=5, n_informative=4, n_redundant=0, random_state=0
    )
    x = x.astype(np.float32)
    if kind == "forest":
        clf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    else:
        clf = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)
    # 30 background rows: below max_background, so every explainer integrates over all of them
    return served_model(tmp_path, export(clf.fit(x, y), 5), background=x[:30]), x[100:105]


def _explain(model: LoadedModel, row: np.ndarray, seed: int = 0, **parameters: Any) -> Any:
    return run(KernelShapExplainer(), model, row[None], seed=seed, **parameters)


@pytest.mark.parametrize("link", ["identity", "logit"])
def test_enumerating_every_coalition_gives_the_exact_shapley_values(
    tmp_path: Path, link: str
) -> None:
    model, rows = _five_features(tmp_path, "gbt")
    background = np.load(model.bundle.file("background.npy"))
    probability = lambda batch: model.scores(batch)[:, 1]  # noqa: E731
    for row in rows:
        found = _explain(model, row, nsamples=64, link=link)  # >= 2**5 - 2: all coalitions
        games = logit if link == "logit" else float
        values, empty = exact_shapley(probability, row[None], background, link=games)
        # The same ORT evaluations feed both, but ORT may sum the trees in another order for
        # another batch size: probabilities agree to ~1e-7, log-odds to 1e-7 / (p (1 - p)).
        p = np.array([probability(row[None])[0], probability(background).mean()])
        atol = 1e-7 if link == "identity" else 1e-7 / (p * (1 - p)).min()
        assert_allclose(found.values, values, rtol=0, atol=atol)
        assert_allclose(found.baseline, empty, rtol=0, atol=atol)


def test_enumeration_equals_exact_tree_shap_of_a_forests_probability(tmp_path: Path) -> None:
    # A random forest's served probability is the trees' sum itself (post_transform NONE), so
    # interventional TreeSHAP over the same background rows is the exact Shapley value of it.
    model, rows = _five_features(tmp_path, "forest")
    for row in rows:
        kernel = _explain(model, row, nsamples=64)
        tree = run(TreeShapExplainer(), model, row[None])
        # shap's interventional kernel runs in float32: values within a few float32 ulps of 1.
        assert_allclose(kernel.values, tree.values, rtol=0, atol=1e-6)
        assert_allclose(kernel.baseline, tree.baseline, rtol=0, atol=1e-6)


def test_sampled_values_add_up_and_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = breast_cancer()
    clf = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    model = served_model(tmp_path, export(clf, 30), background=x[::4])
    state = np.random.get_state()
    first = _explain(model, x[7], seed=11, nsamples=300)
    again = _explain(model, x[7], seed=11, nsamples=300)
    other = _explain(model, x[7], seed=12, nsamples=300)
    assert_array_equal(first.values, again.values)
    assert not np.array_equal(first.values, other.values)
    assert_array_equal(np.random.get_state()[1], state[1])  # the caller's generator is untouched
    for attribution in (first, other, _explain(model, x[7], link="logit", nsamples=300)):
        explained = attribution.baseline + attribution.values.sum()
        assert attribution.quality["additivity_error"] <= 1e-6 * max(1.0, abs(explained))
    assert first.parameters == {"nsamples": 300, "max_background": 50, "link": "identity"}
    assert first.quality["background_rows"] == 50


def test_an_unknown_link_is_refused(tmp_path: Path) -> None:
    model, rows = _five_features(tmp_path, "gbt")
    with pytest.raises(ParameterError, match="link: must be one of 'identity' or 'logit'"):
        _explain(model, rows[0], link="probit")
