"""One way in, end to end: a model admitted by ``xai models add`` is served by a live API and
explained by a live worker (a scaler + logistic pipeline: Kernel SHAP on ORT, no twin)."""

from __future__ import annotations

import pytest

from tests.integration.admission.models import breast_cancer
from tests.support.live import live_api
from tests.support.processes import wait_final

pytestmark = pytest.mark.slow


def test_an_admitted_pipeline_is_predicted_and_explained(
    exports, add, background_csv, tmp_path
) -> None:
    bundles = tmp_path / "bundles"
    added = add(
        exports("scaler-logistic"), "--name", "hospital-risk", "--version", "2026-12",
        "--labels", "benign-risk,malignant-risk", "--background", str(background_csv),
        "--bundles-dir", str(bundles),
    )  # fmt: skip
    assert added.code == 0, added.err
    x, _, names = breast_cancer()
    case = dict(zip(names, x[0].tolist(), strict=True))
    with live_api(bundles, tmp_path, worker=True) as api:
        response = api.client.post(
            "/v1/predictions",
            json={"model": "hospital-risk", "features": case, "methods": ["kernel_shap"]},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["model"]["version"] == "2026-12"
        assert body["diagnosis"]["label"] in ("benign-risk", "malignant-risk")
        (job,) = body["explanations"]
        done = wait_final(api.client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["quality"]["additivity_error"] <= 1e-3
