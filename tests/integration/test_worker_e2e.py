"""Predict -> a real Celery worker process on Redis + Postgres explains -> archived, rendered,
pushed over SSE. And the same on the embedded path (SQLite database + SQLite broker)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from services.api.app import create_app
from shared.contracts import EXPLAIN_QUEUE
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import ExplanationJob, ExplanationResult, Role
from shared.queue import Publisher, make_client
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.processes import settings_env, wait_final, wait_for, xai_process
from tests.support.tokens import Token, issue


@pytest.fixture(scope="module")
def stack(
    pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory, clinician: dict[str, str]
) -> Iterator[TestClient]:
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    env = settings_env(pg_settings)
    with (
        xai_process(["worker"], env, log),
        TestClient(create_app(pg_settings), headers=clinician) as client,
    ):
        yield client


def test_image_explanations_arrive_archived_with_parity_and_quality(stack: TestClient) -> None:
    body = stack.post(
        "/v1/predictions", files={"file": ("x.png", inputs.gray_png())}, data={"model": "tiny-cnn"}
    ).json()
    results = {j["method"]: wait_final(stack, j["id"]) for j in body["explanations"]}
    for method, job in results.items():
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert result["model_sha256"] == body["model"]["sha256"]
        assert result["quality"]["parity_max_abs_diff"] < 1e-4
        assert {"torch", "captum", "onnxruntime"} <= set(result["library_versions"])
        assert job["device"] == "cpu"
        png = stack.get(job["links"]["rendering"])
        assert Image.open(io.BytesIO(png.content)).size == (32, 32), method
        array = np.load(io.BytesIO(stack.get(job["links"]["attributions"]).content))
        assert array.shape == (1, 32, 32)
    ig = results["integrated_gradients"]["result"]["quality"]
    assert ig["completeness_delta_relative"] <= 0.05
    rerendered = stack.get(
        f"/v1/explanations/{results['gradcam']['id']}/heatmap.png",
        params={"polarity": "both", "overlay": "grayscale", "alpha": 0.8},
    )
    assert rerendered.status_code == 200
    assert rerendered.content != stack.get(results["gradcam"]["links"]["rendering"]).content


def test_tabular_tree_shap_is_additive_and_rendered(
    stack: TestClient, tokens: dict[Role, Token]
) -> None:
    body = stack.post(
        "/v1/predictions",
        json={
            "model": "tiny-gbt",
            "features": breast_cancer_case(5),
            "methods": ["tree_shap", "kernel_shap"],
        },
    ).json()
    for job in body["explanations"]:
        done = wait_final(stack, job["id"])
        assert done["status"] == "succeeded", done
        assert done["result"]["quality"]["additivity_error"] < 1e-3
        assert done["result"]["summary"]["top_features"]
        waterfall = stack.get(done["links"]["rendering"])
        assert waterfall.headers["content-type"] == "image/png"
        Image.open(io.BytesIO(waterfall.content)).verify()
    summary = stack.get(
        "/v1/models/tiny-gbt/v1/summary.png",
        params={"kind": "bar"},
        headers=tokens[Role.auditor].headers,
    )
    assert summary.status_code == 200 and summary.content.startswith(b"\x89PNG")


def test_sse_pushes_each_status_until_all_final(stack: TestClient) -> None:
    body = stack.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    events = []
    with stack.stream("GET", body["links"]["events"]) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: "))))
                if event == "done":
                    break
    statuses = [data["status"] for kind, data in events if kind == "job"]
    assert statuses[-1] == "succeeded" and events[-1][0] == "done"
    assert (
        stack.get("/v1/predictions/00000000-0000-0000-0000-000000000000/events").status_code == 404
    )


def test_a_redelivered_job_is_archived_once(stack: TestClient, pg_settings: Settings) -> None:
    body = stack.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    job_id = body["explanations"][0]["id"]
    first = wait_final(stack, job_id)
    publisher = Publisher(make_client(pg_settings.broker_url, timeout_s=1))
    assert publisher.publish([uuid.UUID(job_id)] * 3) == [uuid.UUID(job_id)] * 3
    broker = redis.Redis.from_url(pg_settings.broker_url)
    wait_for(  # the worker took and acknowledged all three redeliveries
        lambda: broker.llen(EXPLAIN_QUEUE) == 0 and broker.hlen("unacked") == 0,
        timeout=60,
        what="the redelivered messages to be consumed",
    )
    engine = make_engine(pg_settings.database_url)
    with make_session_factory(engine)() as session:
        rows = session.scalar(
            select(func.count())
            .select_from(ExplanationResult)
            .where(ExplanationResult.job_id == job_id)
        )
        job = session.get(ExplanationJob, job_id)
    engine.dispose()
    assert rows == 1
    assert job.attempts == first["attempts"] == 1


def test_embedded_sqlite_path(tmp_path: Path, bundles_dir: Path) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path}/xai.db",
        broker_url=f"sqla+sqlite:///{tmp_path}/broker.db",
        bundles_dir=bundles_dir,
    )
    from shared.db.migrate import upgrade

    upgrade(settings.database_url)
    headers = issue(settings.database_url, Role.clinician).headers
    with (
        xai_process(["worker"], settings_env(settings), tmp_path / "worker.log"),
        TestClient(create_app(settings), headers=headers) as client,
    ):
        body = client.post(
            "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case(1)}
        ).json()
        done = wait_final(client, body["explanations"][0]["id"])
        assert done["status"] == "succeeded", (done, (tmp_path / "worker.log").read_text()[-3000:])
