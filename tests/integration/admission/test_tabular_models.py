"""XGBoost, LightGBM, scikit-learn forests, boosting and a scaler + logistic pipeline, each
admitted from its exported ONNX file and a background CSV."""

from __future__ import annotations

import numpy as np
import pytest

from services.worker.context import ModelCache
from services.worker.explainers import get_explainer
from shared.bundles.registry import Registry, load_bundle
from shared.methods import METHODS
from shared.methods.quality import ADDITIVITY_BOUND
from tests.integration.admission.conftest import methods_of
from tests.integration.admission.models import breast_cancer

pytestmark = pytest.mark.slow

TREES = ["xgboost", "lightgbm", "random-forest", "gradient-boosting"]


@pytest.mark.parametrize("family", [*TREES, "scaler-logistic"])
def test_a_tabular_model_is_admitted_with_additive_shap(
    exports, add, background_csv, tmp_path, family
) -> None:
    added = add(
        exports(family), "--name", family, "--version", "v1",
        "--background", str(background_csv), "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    manifest = load_bundle(tmp_path / family / "v1").manifest
    _, _, names = breast_cancer()
    assert [f.name for f in manifest.input.features] == names  # from the CSV header
    assert manifest.output.name == "probabilities" and manifest.output.labels == ("0", "1")
    methods = methods_of(added.report)
    tree = family in TREES
    assert manifest.model_family == ("tree-ensemble" if tree else "neural-network")
    assert methods["tree_shap"]["available"] is tree
    shap = methods["tree_shap" if tree else "kernel_shap"]
    assert shap["available"], shap
    assert shap["quality"]["additivity_error"] <= ADDITIVITY_BOUND
    assert methods["integrated_gradients"]["available"] is False


def test_the_worker_explains_the_pipeline_without_a_twin(
    exports, add, background_csv, tmp_path
) -> None:
    assert add(
        exports("scaler-logistic"), "--name", "pipeline", "--version", "v1",
        "--background", str(background_csv), "--bundles-dir", str(tmp_path),
    ).code == 0  # fmt: skip
    registry = Registry.scan(tmp_path)
    bundle = registry.get("pipeline", "v1")
    model = ModelCache(registry=registry, device="cpu", threads=1).load(
        name="pipeline", version="v1", sha256=bundle.sha256
    )
    assert model.twin is None
    x, _, _ = breast_cancer()
    parameters = METHODS["kernel_shap"].resolve(bundle.manifest)
    result = get_explainer("kernel_shap").explain(
        model=model, x=x[:1], target=1, parameters=parameters, seed=0
    )
    assert result.values.shape == (8,)
    assert abs(result.baseline + result.values.sum() - model.scores(x[:1])[0, 1]) <= 1e-6
    assert np.any(result.values != 0)
