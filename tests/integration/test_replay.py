"""Replay for auditors: a real ``xai worker`` recomputes an archived explanation from the
archived input and the pinned bundle, on Postgres and a private Redis, and reports agreement;
a worker that serves other model bytes refuses. Plus the API's answers to bad requests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.api.app import create_app
from services.worker.explain import run_job
from services.worker.reconciler import reconcile_once
from services.worker.replay import run_replay
from shared import audit
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import AuditRecord, JobStatus, Replay, Role
from shared.queue import Publisher, make_client
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support import inputs, servers
from tests.support.bundles import breast_cancer_case
from tests.support.inprocess import context_for
from tests.support.processes import Service, settings_env, wait_for
from tests.support.tokens import Token, issue

REPLAYS = "/v1/audit/replays"


@dataclass
class Stack:
    client: TestClient
    settings: Settings
    worker: Service
    altered_env: dict[str, str]
    logs: Path
    clinician: Token
    auditor: Token
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module")
def stack(
    pg_admin: str, bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A database and a broker of its own (the test verifies the whole chain), an API in
    process, a real worker on the served bundles, and the environment of a worker whose copy
    of ``tiny-cnn`` has other bytes."""
    logs = tmp_path_factory.mktemp("replay")
    altered = logs / "altered-bundles"
    shutil.copytree(bundles_dir, altered)
    model = altered / "tiny-cnn" / "v1" / "model.onnx"
    model.write_bytes(model.read_bytes() + b"\0")  # other bytes, other sha256
    with servers.fresh_database(pg_admin) as database, servers.private_redis() as broker:
        upgrade(database)
        settings = make_settings(
            database_url=database, broker_url=broker.url, bundles_dir=bundles_dir
        )
        engine = make_engine(database)
        worker = Service(["worker"], settings_env(settings), logs / "worker.log")
        worker.start()
        try:
            with TestClient(create_app(settings)) as client:
                yield Stack(
                    client=client,
                    settings=settings,
                    worker=worker,
                    altered_env=settings_env(settings, XAI_BUNDLES_DIR=str(altered)),
                    logs=logs,
                    clinician=issue(engine, Role.clinician),
                    auditor=issue(engine, Role.auditor),
                    sessions=make_session_factory(engine),
                )
        finally:
            worker.stop()
            engine.dispose()


def _poll(stack: Stack, path: str, token: Token, *, timeout: float = 180) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        response = stack.client.get(path, headers=token.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["status"] in ("succeeded", "failed") else None

    return wait_for(final, timeout=timeout, interval=0.3, what=f"{path} to finish")


def _archived(stack: Stack, **request: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Predict as the clinician; wait until every explanation is archived."""
    response = stack.client.post("/v1/predictions", headers=stack.clinician.headers, **request)
    assert response.status_code == 201, response.text
    body = response.json()
    done = {
        job["method"]: _poll(stack, f"/v1/explanations/{job['id']}", stack.clinician)
        for job in body["explanations"]
    }
    for method, job in done.items():
        assert job["status"] == "succeeded", (method, job)
    return body, done


def _replay(stack: Stack, explanation_id: str) -> dict[str, Any]:
    response = stack.client.post(
        REPLAYS, json={"explanation_id": explanation_id}, headers=stack.auditor.headers
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"{REPLAYS}/{body['id']}"
    assert body["status"] == "queued" and body["explanation_id"] == explanation_id
    assert body["outcome"] is None and body["finished_at"] is None
    return _poll(stack, response.headers["location"], stack.auditor)


def _audit_payload(stack: Stack, replay_id: str) -> tuple[AuditRecord, dict[str, Any]]:
    """The replay's record (by the seq its row names), its payload, and a verified chain."""
    with stack.sessions() as session:
        row = session.get(Replay, uuid.UUID(replay_id))
        assert row is not None and row.audit_seq is not None
        record = session.scalars(select(AuditRecord).where(AuditRecord.seq == row.audit_seq)).one()
        payload = audit.read_payload(session, record.seq)
        report = audit.verify(session)
    assert report.ok, report
    assert payload is not None
    return record, payload


def _recorded_replay(stack: Stack, job_id: str, **values: Any) -> uuid.UUID:
    """A replay row written straight to the record (no publish), as ``values`` leave it."""
    replay_id = uuid.uuid4()
    with stack.sessions.begin() as session:
        session.add(
            Replay(
                id=replay_id,
                job_id=uuid.UUID(job_id),
                requested_by=stack.auditor.id,
                purpose="integration test",
                **{"status": JobStatus.queued, "attempts": 0, **values},
            )
        )
    return replay_id


IMAGE_METHODS = ("integrated_gradients", "gradcam", "saliency", "smoothgrad", "superpixel_shap")
TABULAR_METHODS = ("tree_shap", "kernel_shap", "permutation_shap")


def test_explanations_replay_exactly(stack: Stack) -> None:
    """Deterministic methods, and seeded ones (smoothgrad, kernel, permutation and superpixel
    SHAP) with the same seed, threads and device, give the archived bytes again."""
    image, image_jobs = _archived(
        stack,
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": ",".join(IMAGE_METHODS)},
    )
    table, table_jobs = _archived(
        stack,
        json={
            "model": "tiny-gbt",
            "features": breast_cancer_case(3),
            "methods": list(TABULAR_METHODS),
        },
    )
    assert set(image_jobs) == set(IMAGE_METHODS) and set(table_jobs) == set(TABULAR_METHODS)
    for prediction, jobs in ((image, image_jobs), (table, table_jobs)):
        for method, job in jobs.items():
            replay = _replay(stack, job["id"])
            assert replay["status"] == "succeeded", (method, replay)
            assert replay["prediction_id"] == prediction["id"] and replay["error"] is None
            outcome = replay["outcome"]
            assert outcome["exact"] is True, (method, outcome)
            assert outcome["max_abs_diff"] == 0.0
            assert outcome["spearman"] == 1.0
            assert outcome["top_features_same"] is True
            archived_sha = job["result"]["attributions"]["sha256"]
            assert outcome["replayed_attributions_sha256"] == archived_sha
            assert outcome["archived_attributions_sha256"] == archived_sha
            assert outcome["model_sha256"] == prediction["model"]["sha256"]
            assert outcome["method"] == method and outcome["seed"] == job["seed"]
            assert outcome["device"] == "cpu" and outcome["threads"] == 1
            assert {"onnxruntime", "numpy", "python"} <= set(outcome["library_versions"])
            record, payload = _audit_payload(stack, replay["id"])
            assert (record.kind, record.subject_id) == ("replay", prediction["id"])
            assert payload["replay_id"] == replay["id"]
            assert payload["explanation_id"] == job["id"]
            assert payload["prediction_id"] == prediction["id"]
            assert payload["model_sha256"] == prediction["model"]["sha256"]
            assert payload["outcome"] == outcome and payload["error"] is None
            assert payload["requested_by"] == stack.auditor.id
            assert payload["purpose"] == "integration test"


def test_a_worker_serving_other_bytes_refuses_the_replay(stack: Stack) -> None:
    prediction, jobs = _archived(
        stack,
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    )
    pinned = prediction["model"]["sha256"]
    stack.worker.stop()
    altered = Service(["worker"], stack.altered_env, stack.logs / "altered-worker.log")
    altered.start()
    try:
        replay = _replay(stack, jobs["saliency"]["id"])
    finally:
        altered.stop()
        stack.worker.start()
    assert replay["status"] == "failed" and replay["outcome"] is None
    assert "sha256" in replay["error"] and pinned in replay["error"], replay["error"]
    assert replay["finished_at"] is not None
    record, payload = _audit_payload(stack, replay["id"])
    assert (record.kind, record.subject_id) == ("replay", prediction["id"])
    assert payload["error"] == replay["error"] and payload["outcome"] is None
    assert payload["status"] == "failed" and payload["model_sha256"] == pinned


def test_the_reconciler_publishes_replays_the_broker_missed_or_a_worker_lost(
    stack: Stack,
) -> None:
    _, jobs = _archived(stack, json={"model": "tiny-gbt", "features": breast_cancer_case(7)})
    job_id = jobs["tree_shap"]["id"]
    broker_down = stack.settings.model_copy(
        update={"broker_url": f"redis://127.0.0.1:{servers.free_port()}/0"}
    )
    with TestClient(create_app(broker_down)) as client:  # the publish fails: left to reconcile
        posted = client.post(
            REPLAYS, json={"explanation_id": job_id}, headers=stack.auditor.headers
        )
    assert posted.status_code == 202, posted.text
    missed = uuid.UUID(posted.json()["id"])
    with stack.sessions() as session:
        row = session.get(Replay, missed)
        assert row is not None and row.status is JobStatus.queued and row.published_at is None
    lost = _recorded_replay(  # claimed by a worker that died: running, its lease long expired
        stack,
        job_id,
        status=JobStatus.running,
        attempts=1,
        started_at=datetime.now(UTC) - timedelta(seconds=2 * stack.settings.job_lease_s),
        lease_until=datetime.now(UTC) - timedelta(seconds=stack.settings.job_lease_s),
    )
    publisher = Publisher(make_client(stack.settings.broker_url, timeout_s=1))
    done = reconcile_once(sessions=stack.sessions, publisher=publisher, settings=stack.settings)
    replays = done.sweeps["replay"]
    assert (replays.requeued, replays.failed, replays.published) == (1, 0, 2), done
    for replay_id in (missed, lost):
        replay = _poll(stack, f"{REPLAYS}/{replay_id}", stack.auditor)
        assert replay["status"] == "succeeded" and replay["outcome"]["exact"] is True, replay
    _audit_payload(stack, str(missed))
    assert _audit_payload(stack, str(lost))[1]["attempt"] == 2


def test_an_unexpected_error_is_retried_then_the_replay_fails_on_the_record(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process (the worker's service, no broker): attempts are bounded, and the final
    ``failed`` has its audit record like any other final status."""
    from services.worker.explainers import tree_shap

    _, jobs = _archived(stack, json={"model": "tiny-gbt", "features": breast_cancer_case(9)})
    replay_id = _recorded_replay(stack, jobs["tree_shap"]["id"], published_at=datetime.now(UTC))

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("poison")

    monkeypatch.setattr(tree_shap.TreeShapExplainer, "explain", explode)
    settings = stack.settings.model_copy(update={"max_attempts": 2})
    context = context_for(settings, settings.bundles_dir)
    run_replay(replay_id=replay_id, context=context)
    with stack.sessions() as session:
        row = session.get(Replay, replay_id)
        assert row is not None
        assert (row.status, row.error, row.published_at) == (
            JobStatus.queued,
            "RuntimeError: poison",
            None,
        )
    run_replay(replay_id=replay_id, context=context)
    with stack.sessions() as session:
        row = session.get(Replay, replay_id)
        assert row is not None and row.status is JobStatus.failed and row.attempts == 2
        assert row.error == "gave up after 2 attempts: RuntimeError: poison"
    payload = _audit_payload(stack, str(replay_id))[1]
    assert payload["status"] == "failed" and payload["error"] == row.error
    run_replay(replay_id=replay_id, context=context)  # a redelivery of a final replay: nothing
    with stack.sessions() as session:
        assert session.get(Replay, replay_id).attempts == 2  # type: ignore[union-attr]


def test_an_explanation_not_archived_yet_cannot_be_replayed(stack: Stack) -> None:
    unpublished = stack.settings.model_copy(update={"broker_url": "memory://"})
    with TestClient(create_app(unpublished)) as client:  # no worker ever sees these jobs
        body = client.post(
            "/v1/predictions",
            json={"model": "tiny-gbt", "features": breast_cancer_case(4)},
            headers=stack.clinician.headers,
        ).json()
    job_id = body["explanations"][0]["id"]
    response = stack.client.post(
        REPLAYS, json={"explanation_id": job_id}, headers=stack.auditor.headers
    )
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "queued" in response.json()["detail"]


def test_unknown_ids_are_404(stack: Stack) -> None:
    unknown = str(uuid.uuid4())
    posted = stack.client.post(
        REPLAYS, json={"explanation_id": unknown}, headers=stack.auditor.headers
    )
    assert posted.status_code == 404 and unknown in posted.json()["detail"]
    assert posted.headers["content-type"] == "application/problem+json"
    read = stack.client.get(f"{REPLAYS}/{unknown}", headers=stack.auditor.headers)
    assert read.status_code == 404 and read.json()["title"] == "Not found"


def test_only_auditors_stating_a_purpose_may_replay(stack: Stack) -> None:
    body = {"explanation_id": str(uuid.uuid4())}
    anonymous = stack.client.post(REPLAYS, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    clinician = stack.client.post(REPLAYS, json=body, headers=stack.clinician.headers)
    assert clinician.status_code == 403
    assert (
        stack.client.get(f"{REPLAYS}/{uuid.uuid4()}", headers=stack.clinician.headers).status_code
        == 403
    )
    silent = {"Authorization": stack.auditor.headers["Authorization"]}
    assert stack.client.post(REPLAYS, json=body, headers=silent).status_code == 422


@pytest.mark.parametrize(
    "body",
    [{}, {"explanation_id": "not-a-uuid"}, {"explanation_id": str(uuid.UUID(int=1)), "x": 1}],
)
def test_invalid_bodies_are_422(stack: Stack, body: dict[str, Any]) -> None:
    response = stack.client.post(REPLAYS, json=body, headers=stack.auditor.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_a_retention_purge_takes_replays_with_their_job_and_keeps_their_records(
    pg_admin: str, bundles_dir: Path
) -> None:
    """In process, on a database of its own (the purge forgets every decision in it)."""
    with servers.fresh_database(pg_admin) as database:
        upgrade(database)
        settings = make_settings(
            database_url=database, broker_url="memory://", bundles_dir=bundles_dir
        )
        context = context_for(settings, bundles_dir)
        clinician, auditor = issue(database, Role.clinician), issue(database, Role.auditor)
        with TestClient(create_app(settings)) as client:
            body = client.post(
                "/v1/predictions",
                json={"model": "tiny-gbt", "features": breast_cancer_case(2)},
                headers=clinician.headers,
            ).json()
            job_id = uuid.UUID(body["explanations"][0]["id"])
            run_job(job_id=job_id, context=context)
            posted = client.post(
                REPLAYS, json={"explanation_id": str(job_id)}, headers=auditor.headers
            )
        replay_id = uuid.UUID(posted.json()["id"])
        run_replay(replay_id=replay_id, context=context)
        with context.sessions.begin() as session:
            seq = session.get(Replay, replay_id).audit_seq  # type: ignore[union-attr]
            report = audit.purge(
                session,
                now=datetime.now(UTC) + timedelta(days=400),
                retention_days=settings.retention_days,
                floor_days=settings.retention_floor_days,
            )
        assert report.predictions == [uuid.UUID(body["id"])]
        with context.sessions() as session:
            assert session.get(Replay, replay_id) is None
            assert seq is not None and audit.read_payload(session, seq) is not None
            assert audit.verify(session).ok
