"""Multi-label and regression models admitted by ``xai models add``, served by a live API and
explained by a live worker: findings against their thresholds with one job per method and
positive finding (or the finding a request names), a value in its unit with SHAP adding up to
it, and the audit record of each explanation naming its target."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from services.admission import DraftFlags, draft_manifest, inspect_model
from services.cli.main import main
from shared.db.models import Role
from shared.methods.quality import ADDITIVITY_BOUND
from shared.preprocess import prepare_stored
from tests.integration.admission import heads, models
from tests.support.inputs import gray_png
from tests.support.live import LiveApi, live_api
from tests.support.processes import wait_final

pytestmark = pytest.mark.slow

LABELS = heads.finding_labels(5)
PNG = gray_png(64)
PURPOSE = {"X-Audit-Purpose": "admitted output kinds test"}


@dataclass(frozen=True)
class Stack:
    api: LiveApi
    probabilities: np.ndarray
    """The multi-label model's findings on :data:`PNG`, computed here with ONNX Runtime."""
    thresholds: tuple[float, ...]
    positive: tuple[str, ...]

    def auditor(self) -> dict[str, str]:
        return {**self.api.tokens[Role.auditor].headers, **PURPOSE}


def thresholds_around(probabilities: np.ndarray, positive: set[int]) -> tuple[float, ...]:
    """Per finding, a threshold just below its probability (positive) or just above it."""
    return tuple(
        round(float(p * 0.9 if i in positive else p + (1 - p) * 0.1), 6)
        for i, p in enumerate(probabilities)
    )


def served(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0], dtype=np.float64)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("served-outputs")
    bundles = folder / "bundles"
    image = models.export_torch(
        heads.multilabel_resnet(5), (1, 64, 64), "legacy-17", folder / "findings.onnx"
    )
    drafted = draft_manifest(
        inspect_model(image.read_bytes()), DraftFlags(name="findings", version="v1", labels=LABELS)
    )
    tensor = prepare_stored(PNG, drafted, max_pixels=10**6).tensor
    probabilities = served(image, tensor)[0]
    positive = {int(i) for i in np.argsort(probabilities)[-2:]}  # the two most probable
    thresholds = thresholds_around(probabilities, positive)
    assert main([
        "models", "add", str(image), "--name", "findings", "--version", "v1",
        "--labels", ",".join(LABELS), "--thresholds", ",".join(map(str, thresholds)),
        "--bundles-dir", str(bundles),
    ]) == 0  # fmt: skip
    regressor = heads.export_regressor("gbr", folder / "radius.onnx")
    background = models.write_background_csv(folder / "background.csv")
    assert main([
        "models", "add", str(regressor), "--name", "radius", "--version", "v1",
        "--labels", heads.REGRESSED_FEATURE, "--unit", "mm", "--reference-range", "10,20",
        "--background", str(background), "--bundles-dir", str(bundles),
    ]) == 0  # fmt: skip
    with live_api(bundles, folder, worker=True) as api:
        yield Stack(
            api=api,
            probabilities=probabilities,
            thresholds=thresholds,
            positive=tuple(LABELS[i] for i in sorted(positive)),
        )


def predict_image(stack: Stack, **fields: object) -> dict:  # type: ignore[type-arg]
    response = stack.api.client.post(
        "/v1/predictions",
        files={"file": ("scan.png", PNG, "image/png")},
        data={"model": "findings", **fields},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_findings_are_read_against_their_thresholds_and_each_positive_one_is_explained(
    stack: Stack,
) -> None:
    body = predict_image(stack, methods=["saliency", "gradcam"])
    diagnosis = body["diagnosis"]
    assert diagnosis["mode"] == "multi-label"
    findings = {f["label"]: f for f in diagnosis["findings"]}
    assert list(findings) == list(LABELS)
    for i, label in enumerate(LABELS):
        assert findings[label]["probability"] == pytest.approx(stack.probabilities[i], abs=1e-6)
        assert findings[label]["threshold"] == stack.thresholds[i]
        assert findings[label]["positive"] is (label in stack.positive)
    jobs = body["explanations"]
    assert sorted((j["method"], j["target_label"]) for j in jobs) == sorted(
        (method, label) for method in ("saliency", "gradcam") for label in stack.positive
    )
    for job in jobs:
        assert job["target"] == LABELS.index(job["target_label"])
        done = wait_final(stack.api.client, job["id"])
        assert done["status"] == "succeeded", done
        assert done["target_label"] == job["target_label"]


def test_a_named_target_explains_that_finding(stack: Stack) -> None:
    negative = next(label for label in LABELS if label not in stack.positive)
    body = predict_image(stack, methods=["integrated_gradients"], targets=[negative])
    (job,) = body["explanations"]
    assert (job["target"], job["target_label"]) == (LABELS.index(negative), negative)
    done = wait_final(stack.api.client, job["id"])
    assert done["status"] == "succeeded", done
    quality = done["result"]["quality"]
    # IG explained the named finding's probability, not the top one's
    assert quality["score"] == pytest.approx(stack.probabilities[LABELS.index(negative)], abs=1e-5)
    assert quality["completeness_delta_relative"] <= 0.05
    record = stack.api.client.get(f"/v1/audit/records/{body['id']}", headers=stack.auditor())
    assert record.status_code == 200, record.text
    (explained,) = record.json()["explanations"]
    assert (explained["target"], explained["target_label"]) == (LABELS.index(negative), negative)
    assert "explanation" in [entry["kind"] for entry in record.json()["chain"]]


def test_an_unknown_target_is_a_422_naming_targets(stack: Stack) -> None:
    response = stack.api.client.post(
        "/v1/predictions",
        files={"file": ("scan.png", PNG, "image/png")},
        data={"model": "findings", "targets": ["pneumothorax"]},
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "targets" and "pneumothorax" in error["reason"]


def test_a_regression_serves_its_value_and_shap_adds_up_to_it(stack: Stack) -> None:
    x, _, names = models.breast_cancer()
    case = dict(zip(names, x[0].tolist(), strict=True))
    response = stack.api.client.post(
        "/v1/predictions", json={"model": "radius", "features": case, "methods": ["tree_shap"]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    diagnosis = body["diagnosis"]
    value = served(Path(stack.api.settings.bundles_dir) / "radius" / "v1" / "model.onnx", x[:1])
    assert diagnosis["mode"] == "regression" and diagnosis["unit"] == "mm"
    assert diagnosis["value"] == pytest.approx(value[0, 0], abs=1e-6)
    assert diagnosis["in_range"] is bool(10.0 <= diagnosis["value"] <= 20.0)
    (job,) = body["explanations"]
    assert (job["target"], job["target_label"]) == (0, heads.REGRESSED_FEATURE)
    done = wait_final(stack.api.client, job["id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["quality"]["additivity_error_served"] <= ADDITIVITY_BOUND
    npy = stack.api.client.get(f"/v1/explanations/{job['id']}/attributions")
    assert npy.status_code == 200, npy.text
    values = np.load(io.BytesIO(npy.content))
    total = result["baseline"]["value"] + float(values.sum())
    assert total == pytest.approx(diagnosis["value"], abs=ADDITIVITY_BOUND)  # in mm, as served
    record = stack.api.client.get(f"/v1/audit/records/{body['id']}", headers=stack.auditor())
    assert record.status_code == 200, record.text
    audited = record.json()
    assert audited["prediction"]["outcome"]["value"] == diagnosis["value"]
    assert audited["explanations"][0]["target_label"] == heads.REGRESSED_FEATURE


def test_the_chain_verifies_after_the_output_kinds(stack: Stack) -> None:
    verified = stack.api.client.get("/v1/audit/verify", headers=stack.auditor())
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True
