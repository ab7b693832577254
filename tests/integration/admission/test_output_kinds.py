"""Multi-label and regression models admitted by ``xai models add`` with no hand edits: a
MONAI ResNet with a sigmoid head (both exporters), tree regressors from skl2onnx and
onnxmltools, and a CNN regressing one value; the mode is read from the graph, the flags'
thresholds, unit and range are applied, and every offered method meets its bound on the
target admission chose (probe 0's top finding, or the value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import shap

from services.admission.probes import image_probes
from services.worker.context import ModelCache
from services.worker.explainers import get_explainer
from shared.bundles.registry import Registry, load_bundle
from shared.methods import METHODS
from shared.methods.quality import ADDITIVITY_BOUND
from tests.integration.admission import heads, models
from tests.integration.admission.conftest import methods_of

pytestmark = pytest.mark.slow

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)
GRADIENT_METHODS = ("integrated_gradients", "gradcam", "saliency", "smoothgrad")


def served(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"input": x})
    return np.asarray(scores, dtype=np.float64)


def assert_within_bounds(report: dict) -> None:  # type: ignore[type-arg]
    for method in report["methods"]:
        for name, bound in method.get("bounds", {}).items():
            assert method["quality"][name] <= bound, (method["method"], name)


@pytest.mark.parametrize("exporter", ["legacy-17", "dynamo"])
def test_a_sigmoid_resnet_is_admitted_multilabel_with_its_thresholds(
    exports, add, tmp_path, exporter
) -> None:
    path = exports(f"multilabel5:{exporter}")
    added = add(
        path, "--name", "findings", "--version", "v1",
        "--labels", ",".join(heads.finding_labels(5)),
        "--thresholds", ",".join(map(str, THRESHOLDS)), "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    manifest = load_bundle(tmp_path / "findings" / "v1").manifest
    output = manifest.output
    assert (output.mode, output.kind, output.thresholds) == (
        "multi-label", "probabilities", THRESHOLDS,
    )  # fmt: skip
    probabilities = served(path, image_probes(manifest.input))
    positives = int((probabilities >= np.array(THRESHOLDS)).sum())
    top = int(np.argmax(probabilities[0]))
    (sanity,) = (s for s in added.report["steps"] if s["step"] == "output sanity")
    assert f"{positives} positive over 8 probes" in sanity["detail"]
    assert f"methods explain 'finding-{top}'" in sanity["detail"]
    methods = methods_of(added.report)
    for name in GRADIENT_METHODS:
        assert methods[name]["available"], methods[name]
    ig = methods["integrated_gradients"]["quality"]
    assert ig["score"] == pytest.approx(probabilities[0, top], abs=1e-5)  # the top finding
    assert_within_bounds(added.report)


def test_fourteen_findings_take_one_threshold_for_all(exports, add, tmp_path) -> None:
    labels = heads.finding_labels(14)
    added = add(
        exports("multilabel14:legacy-17"), "--name", "chest14", "--version", "v1",
        "--labels", ",".join(labels), "--thresholds", "0.55", "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    output = load_bundle(tmp_path / "chest14" / "v1").manifest.output
    assert output.mode == "multi-label" and output.thresholds == (0.55,) * 14
    assert methods_of(added.report)["integrated_gradients"]["available"]
    assert_within_bounds(added.report)


@pytest.mark.parametrize("family", ["gbr", "xgboost"])
def test_a_tree_regressor_is_admitted_with_shap_adding_up_to_the_served_value(
    exports, add, background_csv, tmp_path, family
) -> None:
    path = exports(f"regressor-{family}:")
    added = add(
        path, "--name", "radius", "--version", "v1", "--labels", heads.REGRESSED_FEATURE,
        "--unit", "mm", "--reference-range", "10,20", "--background", str(background_csv),
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    manifest = load_bundle(tmp_path / "radius" / "v1").manifest
    output = manifest.output
    assert (output.mode, output.kind, output.unit, output.reference_range) == (
        "regression", "value", "mm", (10.0, 20.0),
    )  # fmt: skip
    assert manifest.model_family == "tree-ensemble"
    assert manifest.explanations.default_methods == ("tree_shap",)
    methods = methods_of(added.report)
    assert methods["tree_shap"]["available"], methods["tree_shap"]
    assert methods["tree_shap"]["quality"]["additivity_error_served"] <= ADDITIVITY_BOUND
    assert_within_bounds(added.report)
    registry = Registry.scan(tmp_path)
    bundle = registry.get("radius", "v1")
    model = ModelCache(registry=registry, device="cpu", threads=1).load(
        name="radius", version="v1", sha256=bundle.sha256
    )
    x, _, _ = models.breast_cancer()
    row = x[100:101]
    result = get_explainer("tree_shap").explain(
        model=model, x=row, target=0, parameters=METHODS["tree_shap"].resolve(manifest), seed=0
    )
    value = served(path, row)[0, 0]
    assert 5.0 < value < 40.0  # a radius in mm, not a probability or a log-odds
    np.testing.assert_allclose(result.baseline + result.values.sum(), value, rtol=0, atol=1e-4)
    background = np.load(bundle.file("background.npy"))
    native = shap.TreeExplainer(
        heads.tabular_regressor(family), data=background, feature_perturbation="interventional"
    ).shap_values(row)[0]
    np.testing.assert_allclose(result.values, native, rtol=0, atol=1e-5)  # the library's own


@pytest.mark.parametrize("exporter", ["legacy-17", "dynamo"])
def test_an_image_regression_is_admitted_with_ig_complete_in_its_unit(
    exports, add, tmp_path, exporter
) -> None:
    path = exports(f"score-cnn:{exporter}")
    added = add(
        path, "--name", "ejection", "--version", "v1", "--task", "regression",
        "--labels", "ejection-fraction", "--unit", "%", "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    manifest = load_bundle(tmp_path / "ejection" / "v1").manifest
    output = manifest.output
    assert (output.mode, output.kind, output.labels, output.unit) == (
        "regression", "value", ("ejection-fraction",), "%",
    )  # fmt: skip
    methods = methods_of(added.report)
    for name in GRADIENT_METHODS:
        assert methods[name]["available"], methods[name]
    ig = methods["integrated_gradients"]["quality"]
    value = served(path, image_probes(manifest.input)[:1])[0, 0]
    assert ig["score"] == pytest.approx(value, abs=1e-4)  # the served value, in %
    assert abs(ig["score"] - ig["baseline_score"]) > 0.1  # a change to account for
    assert_within_bounds(added.report)


def test_flags_of_another_mode_are_refused_naming_them(exports, add, tmp_path) -> None:
    regressor = exports("regressor-gbr:")
    refused = add(
        regressor, "--name", "r", "--version", "v1", "--thresholds", "0.4",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert refused.code == 1 and "[--thresholds]" in refused.err
    assert "--thresholds is for multi-label outputs; this output is regression" in refused.err
    refused = add(
        regressor, "--name", "r", "--version", "v1", "--reference-range", "20",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert refused.code == 1 and "--reference-range '20': two numbers LOW,HIGH" in refused.err
    refused = add(
        regressor, "--name", "r", "--version", "v1", "--task", "multi-label",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert refused.code == 1 and "--task multi-label but the output is regression" in refused.err
    assert not (tmp_path / "r").exists()
