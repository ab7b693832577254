"""GET /v1/methods and the per-request ``parameters`` override of POST /v1/predictions, on real
Postgres: the registry as served, the merged parameters each job records, and every refusal a
problem+json 422 naming its field before anything is diagnosed or queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.api.app import create_app
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import ExplanationJob, Prediction, Role
from shared.methods import FIGURES, METHODS
from shared.settings import Settings
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.tokens import Token


@pytest.fixture(scope="module")
def client(pg_settings: Settings, clinician: dict[str, str]) -> Iterator[TestClient]:
    settings = pg_settings.model_copy(update={"broker_url": "memory://"})
    with TestClient(create_app(settings), headers=clinician) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def sessions(pg_settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(pg_settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def job_parameters(sessions, body: dict[str, Any]) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return {
            job.method: job.parameters
            for job in session.scalars(
                select(ExplanationJob).where(ExplanationJob.prediction_id == body["id"])
            )
        }


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_registry_as_declared(
    client: TestClient, tokens: dict[Role, Token], role: Role, pg_settings: Settings
) -> None:
    headers = {**tokens[role].headers, "X-Audit-Purpose": "method registry test"}
    response = client.get("/v1/methods", headers=headers)
    assert response.status_code == 200, response.text
    served = {m["name"]: m for m in response.json()}
    assert list(served) == list(METHODS)
    ig = served["integrated_gradients"]
    assert ig["modality"] == "image" and ig["label"] == "Integrated Gradients"
    assert ig["plain"] == METHODS["integrated_gradients"].plain
    n_steps = next(p for p in ig["parameters"] if p["name"] == "n_steps")
    assert (n_steps["type"], n_steps["default"], n_steps["minimum"], n_steps["maximum"]) == (
        "integer",
        32,
        1,
        1024,
    )
    baseline = next(p for p in ig["parameters"] if p["name"] == "baseline")
    assert baseline["choices"] == ["black", "blur", "mean"]
    quality = {q["name"]: q for q in ig["quality"]}
    assert quality["completeness_delta_relative"]["bound_parameter"] == "max_relative_delta"
    assert quality["parity_max_abs_diff"]["bound"] == pg_settings.parity_tolerance
    tree = {q["name"]: q for q in served["tree_shap"]["quality"]}
    assert (
        tree["served_parity_max_abs_diff"]["bound"] == FIGURES["served_parity_max_abs_diff"].bound
    )
    assert {m["modality"] for m in served.values()} == {"image", "tabular"}


def test_the_registry_needs_a_token(client: TestClient) -> None:
    assert client.get("/v1/methods", headers={"Authorization": ""}).status_code == 401


def test_a_json_override_is_merged_over_the_bundle_and_recorded(
    client: TestClient, sessions
) -> None:
    body = {
        "model": "tiny-gbt",
        "features": breast_cancer_case(0),
        "methods": ["kernel_shap", "tree_shap"],
        "parameters": {"kernel_shap": {"nsamples": 64, "link": "logit"}},
    }
    response = client.post("/v1/predictions", json=body)
    assert response.status_code == 201, response.text
    recorded = job_parameters(sessions, response.json())
    assert recorded["kernel_shap"] == {"nsamples": 64, "link": "logit", "max_background": 50}
    assert recorded["tree_shap"] == {"feature_perturbation": "interventional", "max_background": 50}


def test_a_form_override_is_merged_over_the_manifest(client: TestClient, sessions) -> None:
    response = client.post(
        "/v1/predictions",
        files={"file": ("scan", inputs.gray_png())},
        data={
            "model": "tiny-cnn",
            "parameters": json.dumps({"integrated_gradients": {"baseline": "blur"}}),
        },
    )
    assert response.status_code == 201, response.text
    recorded = job_parameters(sessions, response.json())
    # the manifest's n_steps=16, the request's baseline, the method's other defaults
    assert recorded["integrated_gradients"] == {
        **METHODS["integrated_gradients"].parameters().recorded(),
        "n_steps": 16,
        "baseline": "blur",
    }
    assert recorded["gradcam"]["layer"]  # the manifest's gradcam_layer


TABULAR = {"model": "tiny-gbt", "methods": ["kernel_shap", "permutation_shap"]}


@pytest.mark.parametrize(
    ("parameters", "field", "reason"),
    [
        ({"kernel_shap": {"nsamples": 0}}, "parameters.kernel_shap.nsamples", "must be ≥ 1"),
        ({"kernel_shap": {"nsamples": 10**9}}, "parameters.kernel_shap.nsamples", "≤ 1000000"),
        ({"kernel_shap": {"nsamples": "64"}}, "parameters.kernel_shap.nsamples", "an integer"),
        ({"kernel_shap": {"samples": 64}}, "parameters.kernel_shap.samples", "unknown parameter"),
        ({"kernel_shap": {"link": "probit"}}, "parameters.kernel_shap.link", "one of"),
        ({"permutation_shap": {"max_evals": 6}}, "parameters.permutation_shap.max_evals", "61"),
        ({"lime": {"n": 1}}, "parameters.lime", "unknown method"),
        ({"tree_shap": {}}, "parameters.tree_shap", "not among the methods to compute"),
        ({"kernel_shap": 3}, "parameters.kernel_shap", "dictionary"),
    ],
)
def test_bad_json_overrides_are_422_naming_the_field(
    client: TestClient, sessions, parameters: dict[str, Any], field: str, reason: str
) -> None:
    with sessions() as session:
        before = session.scalar(select(func.count()).select_from(Prediction))
    body = {**TABULAR, "features": breast_cancer_case(0), "parameters": parameters}
    response = client.post("/v1/predictions", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert reason in errors[0]["reason"]
    with sessions() as session:  # nothing diagnosed, nothing queued
        assert session.scalar(select(func.count()).select_from(Prediction)) == before


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            '{"integrated_gradients": {"n_steps": 2048}}',
            "parameters.integrated_gradients.n_steps",
            "must be ≤ 1024",
        ),  # fmt: skip
        ('{"integrated_gradients": {"max_relative_delta": NaN}}', "parameters", "invalid JSON"),
        ('{"gradcam": {"upsampling": "bicubic"}}', "parameters.gradcam.upsampling", "one of"),
        ("[1]", "parameters", "dictionary"),
        ("{", "parameters", "invalid JSON"),
    ],
)
def test_bad_form_overrides_are_422_naming_the_field(
    client: TestClient, text: str, field: str, reason: str
) -> None:
    response = client.post(
        "/v1/predictions",
        files={"file": ("scan", inputs.gray_png())},
        data={"model": "tiny-cnn", "parameters": text},
    )
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert reason in errors[0]["reason"]


def test_an_idempotent_retry_with_other_parameters_is_refused(client: TestClient) -> None:
    body = {**TABULAR, "features": breast_cancer_case(2)}
    headers = {"Idempotency-Key": "methods-test-override"}
    first = client.post("/v1/predictions", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/predictions", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    other = {**body, "parameters": {"kernel_shap": {"nsamples": 32}}}
    refused = client.post("/v1/predictions", json=other, headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
