"""``GET /v1/ops/status`` on both brokers without a worker: the queue depth is what nobody took,
the job counts and worker activity follow the jobs' real state changes, and an unreachable
broker reads as an unknown depth, not an error. (Runs on the embedded SQLite record.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.db import jobs
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from tests.conftest import make_settings
from tests.support import inputs, servers
from tests.support.tokens import issue


@pytest.fixture(params=["redis", "sqlalchemy"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        with servers.private_redis() as redis:
            yield redis.url
    else:
        yield f"sqla+sqlite:///{tmp_path}/broker.db"


def client_for(
    tmp_path: Path, broker_url: str, bundles_dir: Path
) -> tuple[TestClient, dict[str, str]]:
    """An in-process API signed in as ops, and the headers of a clinician's token."""
    database = f"sqlite:///{tmp_path}/xai.db"
    upgrade(database)
    settings = make_settings(database_url=database, broker_url=broker_url, bundles_dir=bundles_dir)
    client = TestClient(create_app(settings), headers=issue(database, "ops").headers)
    return client, issue(database, "clinician").headers


def test_depth_counts_and_activity_follow_the_jobs(
    tmp_path: Path, broker_url: str, bundles_dir: Path
) -> None:
    client, clinician = client_for(tmp_path, broker_url, bundles_dir)
    with client:
        idle = client.get("/v1/ops/status").json()
        body = client.post(
            "/v1/predictions",
            files={"file": ("x.png", inputs.gray_png())},
            data={"model": "tiny-cnn", "methods": "saliency,gradcam"},
            headers=clinician,
        ).json()
        waiting = client.get("/v1/ops/status").json()
        first, second = (uuid.UUID(job["id"]) for job in body["explanations"])
        sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path}/xai.db"))
        with sessions.begin() as session:
            for job_id in (first, second):
                attempt = jobs.claim(session, job_id=job_id, lease_s=60, worker="w1", device="cpu")
                assert attempt == 1
            assert jobs.fail(session, job_id=first, attempt=1, reason="boom: a reason")
        after = client.get("/v1/ops/status").json()

    assert idle["queue"]["depth"] == 0
    assert idle["jobs"] == {"queued": 0, "running": 0, "succeeded": 0, "failed": 0}
    assert idle["worker"]["last_started_at"] is None and idle["recent_failures"] == []
    assert [(m["name"], len(m["sha256"])) for m in idle["models"]] == [
        ("tiny-cnn", 64),
        ("tiny-gbt", 64),
    ]
    assert waiting["queue"]["depth"] == 2
    assert waiting["jobs"]["queued"] == 2
    assert after["jobs"] == {"queued": 0, "running": 1, "succeeded": 0, "failed": 1}
    worker = after["worker"]
    assert worker["last_worker"] == "w1" and worker["running"] == 1
    assert worker["leases_expired"] == 0
    assert worker["last_started_at"].endswith(("Z", "+00:00"))
    (failure,) = after["recent_failures"]
    assert failure["id"] == str(first) and failure["reason"] == "boom: a reason"
    assert failure["model"] == "tiny-cnn/v1" and failure["method"] in ("saliency", "gradcam")


def test_an_unreachable_broker_is_an_unknown_depth(tmp_path: Path, bundles_dir: Path) -> None:
    closed = f"redis://127.0.0.1:{servers.free_port()}/0"
    client, _ = client_for(tmp_path, closed, bundles_dir)
    with client:
        response = client.get("/v1/ops/status")
    assert response.status_code == 200
    assert response.json()["queue"]["depth"] is None
