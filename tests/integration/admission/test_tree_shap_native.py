"""TreeSHAP of the served ONNX trees equals ``shap.TreeExplainer`` on the native model.

Each model is fitted by its own library, exported as the library exports it, admitted with
``xai models add`` and explained by the worker's ``tree_shap``. The reference is shap's
interventional TreeSHAP of the native object over the bundle's background rows, in the output
convention ``tree_shap`` documents: log-odds for boosted classifiers, probability for
forests, the value for regressors.

The float32 threshold convention: the served model compares the float32 input with float32
thresholds. scikit-learn and LightGBM keep float64 thresholds ``t`` and decide
``float32(x) <= t``, which for every float32 ``x`` is ``x <= floor32(t)`` (the largest float32
at or below ``t``). The reference is given those floored thresholds: shap's interventional
kernel stores thresholds as C floats, rounded to nearest, and on an input exactly at a
threshold that rounds up it would disagree with the library itself. skl2onnx writes
``floor32(t)``, so the served trees decide as sklearn does everywhere; onnxmltools' LightGBM
converter writes the nearest float32, and on such inputs the served model is not LightGBM's
(:func:`test_lightgbm_is_served_with_its_thresholds_rounded_to_nearest`): TreeSHAP explains
the served model there, as shap does LightGBM with its thresholds rounded to nearest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

from services.cli.main import main
from services.worker.context import ModelCache
from services.worker.explainers._tabular import background_rows
from services.worker.explainers.base import LoadedModel
from services.worker.explainers.tree_shap import TreeShapExplainer
from services.worker.onnx_trees import parse_tree_ensemble
from shared.bundles.registry import Registry
from tests.integration.admission import heads, models
from tests.unit.explainers._run import run

pytestmark = pytest.mark.slow

CLASSIFIERS = ["xgboost", "lightgbm", "random-forest", "gradient-boosting"]
REGRESSORS = ["regressor-xgboost", "regressor-gbr"]  # heads.tabular_regressor's families
PARITY = 1e-5  # issue 13: TreeSHAP of the served trees vs shap on the native model
F32 = 2.0**-24  # float32's relative rounding (half its spacing at 1)
SKL2ONNX = ("random-forest", "gradient-boosting", "regressor-gbr")


def floor32(thresholds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each threshold (float64): ``x <= t`` exactly when
    ``x <= floor32(t)`` for every float32 ``x``."""
    nearest = thresholds.astype(np.float32)
    below = np.nextafter(nearest, np.float32(-np.inf))
    return np.where(nearest > thresholds, below, nearest).astype(np.float64)


def around_splits(native: Any, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Rows on both sides of ``n`` splits of the native trees whose threshold ``t`` rounds up
    to its nearest float32 and of ``n`` whose does not: a dataset row with the split's feature
    set to ``floor32(t)`` and to the next float32 up, the two inputs that every float32
    rendering of ``t`` must tell apart. Also, per row, whether it lies in
    ``(t, nearest32(t)]``, where a nearest-rounded threshold sends it the other way."""
    import shap

    trees = shap.TreeExplainer(native).model
    inner = trees.children_left >= 0
    t, feature = trees.thresholds[inner], trees.features[inner]
    up = t.astype(np.float32).astype(np.float64) > t
    chosen = np.concatenate([np.nonzero(up)[0][:n], np.nonzero(~up)[0][:n]])
    below = floor32(t[chosen]).astype(np.float32)
    x, _, _ = models.breast_cancer()
    rows = x[np.arange(2 * len(chosen)) * 20 % len(x)]
    at = np.arange(len(chosen))
    rows[2 * at, feature[chosen]] = below
    rows[2 * at + 1, feature[chosen]] = np.nextafter(below, np.float32(np.inf))
    between = np.zeros(len(rows), dtype=bool)
    between[2 * at + 1] = up[chosen]
    return rows, between


def explain_rows(model: LoadedModel, rows: np.ndarray, target: int) -> tuple[np.ndarray, Any]:
    found = [run(TreeShapExplainer(), model, row[None], target=target) for row in rows]
    return np.array([a.values for a in found]), found


def reference(
    native: Any, background: np.ndarray, rows: np.ndarray, *, floored: bool = True
) -> tuple[np.ndarray, float]:
    """shap's interventional TreeSHAP of the native model (class 1 where there are classes)."""
    import shap

    explainer = shap.TreeExplainer(
        native, data=background, feature_perturbation="interventional", model_output="raw"
    )
    if floored:
        explainer.model.thresholds = floor32(explainer.model.thresholds)
    values = np.asarray(explainer.shap_values(rows, check_additivity=False))
    if values.ndim == 3:  # a forest: probability of each class
        values = values[..., 1]
    return values, float(np.ravel(explainer.expected_value)[-1])


def native_output(native: Any, rows: np.ndarray) -> np.ndarray:
    """What the native model outputs on the served scale: class 1's probability, or the value."""
    if hasattr(native, "predict_proba"):
        return np.asarray(native.predict_proba(rows)[:, 1], dtype=np.float64)
    return np.asarray(native.predict(rows), dtype=np.float64)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Any, LoadedModel]]:
    """``family`` -> (its native model, the bundle exported from it, loaded as the worker does)."""
    root = tmp_path_factory.mktemp("tree-shap-native")
    background_csv = models.write_background_csv(root / "background.csv")
    bundles = root / "bundles"
    cache: dict[str, tuple[Any, LoadedModel]] = {}

    def get(family: str) -> tuple[Any, LoadedModel]:
        if family not in cache:
            path = root / f"{family}.onnx"
            flags = ["--background", str(background_csv), "--bundles-dir", str(bundles)]
            if family in REGRESSORS:
                regressor = family.removeprefix("regressor-")
                native = heads.tabular_regressor(regressor)
                heads.export_regressor(regressor, path)  # fits the same model again
                flags += ["--labels", heads.REGRESSED_FEATURE, "--unit", "mm"]
            else:
                native = models.tabular_native(family)
                models.tabular_onnx(family, path, native)
            name = ["--name", family, "--version", "v1"]
            assert main(["models", "add", str(path), *name, *flags, "--json"]) == 0
            registry = Registry.scan(bundles)
            bundle = registry.get(family, "v1")
            model = ModelCache(registry=registry, device="cpu", threads=1).load(
                name=family, version="v1", sha256=bundle.sha256
            )
            cache[family] = native, model
        return cache[family]

    return get


def _rows(family: str, native: Any) -> np.ndarray:
    """Dataset rows and rows around splits; for LightGBM not those where its converter's
    nearest float32 departs from LightGBM (the last test)."""
    x, _, _ = models.breast_cancer()
    split_rows, between = around_splits(native)
    if family.startswith("lightgbm"):
        split_rows = split_rows[~between]
    return np.vstack([x[::100], split_rows])


@pytest.mark.parametrize("family", [*CLASSIFIERS, *REGRESSORS])
def test_tree_shap_of_the_served_trees_equals_shap_on_the_native_model(served, family) -> None:
    native, model = served(family)
    target = 0 if family in REGRESSORS else 1
    rows = _rows(family, native)
    # the served model is the native one on these rows (ORT: float32 sums, float32 output)
    scale = max(1.0, float(np.abs(native_output(native, rows)).max()))
    assert_allclose(model.scores(rows)[:, target], native_output(native, rows), atol=1e-6 * scale)
    background = background_rows(model, max_rows=None, seed=0)
    assert len(background) == 40
    ours, found = explain_rows(model, rows, target)
    expected_values, expected_value = reference(native, background, rows)
    assert np.abs(expected_values).max() > 1e-2  # the values explain something
    assert np.abs(ours - expected_values).max() <= PARITY
    # the expected value: the mean margin over the same rows, with float32 base_values in ONNX
    base_tolerance = PARITY + F32 * abs(expected_value)
    assert max(abs(a.baseline - expected_value) for a in found) <= base_tolerance


@pytest.mark.parametrize("family", [*CLASSIFIERS, *REGRESSORS])
def test_the_values_add_up_to_the_served_output(served, family) -> None:
    """``additivity_error_served`` on the served scale, within what float32 serving allows:
    ORT sums the float32 votes of every tree in float32 and serves a float32 score."""
    native, model = served(family)
    target = 0 if family in REGRESSORS else 1
    ensemble = parse_tree_ensemble(
        model.bundle.read_model_bytes(), input_name="input", n_features=models.N_FEATURES
    )
    values, offset = ensemble.target_values(target)
    largest = abs(offset) + np.abs(values).max(axis=1).sum()  # bounds every partial sum
    # one float32 rounding per tree: ORT's sum, and shap's interventional kernel (C floats)
    summing = (len(ensemble.n_nodes) + 1) * F32 * largest
    # the sigmoid's slope is at most 1/4; then the float32 score's own rounding
    bound = summing / 4 + F32 if ensemble.logistic else summing + F32 * largest
    _, found = explain_rows(model, _rows(family, native), target)
    for attribution in found:
        assert attribution.quality["served_parity_max_abs_diff"] <= summing
        assert attribution.quality["additivity_error"] <= summing
        assert attribution.quality["additivity_error_served"] <= bound


@pytest.mark.parametrize("family", [*SKL2ONNX, "lightgbm"])
def test_shap_rounds_float64_thresholds_to_nearest_without_the_floor(served, family) -> None:
    """Why the reference floors: on rows between a threshold and its nearest float32 above,
    shap's kernel given the float64 thresholds departs from sklearn, and so from the served
    trees; for LightGBM it agrees with the served trees, whose converter rounded the same way."""
    native, model = served(family)
    target = 0 if family in REGRESSORS else 1
    rows, between = around_splits(native)
    rows = rows[between]
    background = background_rows(model, max_rows=None, seed=0)
    ours, _ = explain_rows(model, rows, target)
    unfloored = np.abs(ours - reference(native, background, rows, floored=False)[0]).max()
    if family == "lightgbm":
        assert unfloored <= PARITY
    else:
        assert np.abs(ours - reference(native, background, rows)[0]).max() <= PARITY
        assert unfloored > 1e-3


def test_lightgbm_is_served_with_its_thresholds_rounded_to_nearest(served) -> None:
    """onnxmltools writes LightGBM's float64 thresholds as their nearest float32: an input
    between a threshold and its nearest float32 above goes left in the served model and right
    in LightGBM, so there the served model, which TreeSHAP explains, is not LightGBM's."""
    native, model = served("lightgbm")
    rows, between = around_splits(native, n=24)
    gap = np.abs(model.scores(rows)[:, 1] - native_output(native, rows))
    assert gap[~between].max() <= 1e-6
    assert gap[between].max() > 1e-2
