"""POST/GET /v1/predictions against real Postgres and a real (private) Redis broker."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.api.app import create_app
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import Blob, ExplanationJob, JobStatus, Prediction, Role
from shared.settings import Settings
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.tokens import Token


@pytest.fixture(scope="module")
def client(pg_settings: Settings, clinician: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(pg_settings), headers=clinician) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def sessions(pg_settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(pg_settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def post_image(client: TestClient, data: bytes, **fields: object) -> object:
    form = {"model": "tiny-cnn", **fields}
    return client.post("/v1/predictions", files={"file": ("scan", data)}, data=form)


def test_image_prediction_is_recorded_with_queued_jobs_before_the_response(
    client: TestClient, sessions, pg_settings: Settings
) -> None:
    data = inputs.gray_png()
    response = post_image(client, data, case_ref="case-123")
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/predictions/{body['id']}"
    assert body["model"]["name"] == "tiny-cnn"
    assert body["input"]["sha256"] == hashlib.sha256(data).hexdigest()
    probabilities = body["diagnosis"]["probabilities"]
    assert set(probabilities) == {"normal", "pneumonia"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert body["diagnosis"]["probability"] == max(probabilities.values())
    assert [j["method"] for j in body["explanations"]] == ["gradcam", "integrated_gradients"]
    assert all(j["status"] == "queued" for j in body["explanations"])

    with sessions() as session:
        row = session.get(Prediction, body["id"])
        assert row is not None and row.model_sha256 == body["model"]["sha256"]
        assert row.case_ref_hmac is not None and "case-123" not in row.case_ref_hmac
        assert session.get(Blob, row.input_sha256).data == data
        jobs = session.scalars(select(ExplanationJob).where(ExplanationJob.prediction_id == row.id))
        assert {j.method for j in jobs} == {"gradcam", "integrated_gradients"}
        assert row.preprocessing["resize"]["to"] == [32, 32]


def test_jobs_are_published_to_the_broker_after_the_commit(
    client: TestClient, sessions, pg_settings: Settings
) -> None:
    queue = redis.Redis.from_url(pg_settings.broker_url)
    before = queue.llen("explanations")
    body = post_image(client, inputs.gray_png(), methods="saliency").json()
    assert queue.llen("explanations") == before + 1
    with sessions() as session:
        job = session.get(ExplanationJob, body["explanations"][0]["id"])
        assert job.status is JobStatus.queued and job.published_at is not None
    assert body["explanations"][0]["id"] in queue.lindex("explanations", 0).decode()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (inputs.png16, {"mode": "I;16"}),
        (inputs.rgba_png, {"alpha": "composited over black"}),
        (inputs.palette_png, {"mode": "P"}),
        (lambda: inputs.jpeg(mode="RGB"), {"grayscale": "ITU-R 601-2 luma"}),
        (lambda: inputs.jpeg(mode="CMYK"), {"mode": "CMYK"}),
    ],
)
def test_image_variants_are_converted_as_the_manifest_says(
    client: TestClient, make, expected: dict[str, str]
) -> None:
    response = post_image(client, make())
    assert response.status_code == 201, response.text
    steps = response.json()["input"]["preprocessing"]
    for key, value in expected.items():
        assert steps[key] == value


def test_dicom_records_the_modality_and_voi_transforms(client: TestClient) -> None:
    response = post_image(client, inputs.ct_small())
    assert response.status_code == 201, response.text
    body = response.json()
    steps = body["input"]["preprocessing"]
    assert body["input"]["media_type"] == "application/dicom"
    assert steps["modality_lut"] == {"slope": 1.0, "intercept": -1024.0}
    assert steps["size"] == [128, 128] and steps["bits_stored"] == 16


def test_tabular_prediction(client: TestClient, sessions) -> None:
    response = client.post(
        "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case(0)}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["diagnosis"]["label"] in {"malignant", "benign"}
    assert [j["method"] for j in body["explanations"]] == ["tree_shap"]
    assert body["input"]["media_type"] == "application/json"
    fetched = client.get(f"/v1/predictions/{body['id']}")
    assert fetched.status_code == 200 and fetched.json() == body


def test_idempotency_key_returns_the_first_result_and_creates_nothing(
    client: TestClient, sessions
) -> None:
    data = inputs.gray_png(48)
    headers = {"Idempotency-Key": "retry-me-1"}
    first = client.post(
        "/v1/predictions", files={"file": ("a", data)}, data={"model": "tiny-cnn"}, headers=headers
    )
    with sessions() as session:
        count = session.scalar(select(func.count()).select_from(Prediction))
    second = client.post(
        "/v1/predictions", files={"file": ("a", data)}, data={"model": "tiny-cnn"}, headers=headers
    )
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == count
    other = client.post(
        "/v1/predictions",
        files={"file": ("b", inputs.gray_png(40))},
        data={"model": "tiny-cnn"},
        headers=headers,
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_models_health_readiness_and_metrics(
    client: TestClient, bundles_dir, tokens: dict[Role, Token]
) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()}
    onnx_bytes = (bundles_dir / "tiny-cnn" / "v1" / "model.onnx").read_bytes()
    assert models["tiny-cnn"]["sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
    assert "tree_shap" in models["tiny-gbt"]["methods"]
    assert "gradcam" not in models["tiny-gbt"]["methods"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert all(check["ok"] for check in ready.json()["checks"].values())
    metrics = client.get("/metrics", headers=tokens[Role.ops].headers)
    assert "xai_predictions_total" in metrics.text
    assert client.get("/openapi.json").json()["paths"]["/v1/predictions"]["post"]["requestBody"]


def test_unreachable_broker_still_records_and_leaves_jobs_queued(
    pg_settings: Settings, sessions, clinician: dict[str, str]
) -> None:
    from tests.support.servers import free_port

    down = pg_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(down), headers=clinician) as client:
        response = post_image(client, inputs.gray_png())
        assert response.status_code == 201, response.text
        assert client.get("/readyz").status_code == 503
    with sessions() as session:
        for job in response.json()["explanations"]:
            row = session.get(ExplanationJob, job["id"])
            assert row.status is JobStatus.queued and row.published_at is None
