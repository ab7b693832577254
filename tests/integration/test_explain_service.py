"""The explain service refuses to archive an explanation of anything but the served model."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.api.app import create_app
from services.worker.context import WorkerContext
from services.worker.explain import run_job
from shared import audit
from shared.db.models import AuditRecord, ExplanationJob, ExplanationResult, JobStatus, Role
from shared.settings import Settings
from tests.support import inputs
from tests.support.inprocess import context_for
from tests.support.tokens import issue


def predict(settings: Settings, methods: str = "saliency") -> uuid.UUID:
    app = create_app(settings.model_copy(update={"broker_url": "memory://"}))
    headers = issue(settings.database_url, Role.clinician).headers
    with TestClient(app, headers=headers) as client:
        body = client.post(
            "/v1/predictions",
            files={"file": ("x.png", inputs.gray_png())},
            data={"model": "tiny-cnn", "methods": methods},
        ).json()
    return uuid.UUID(body["explanations"][0]["id"])


def outcome(context: WorkerContext, job_id: uuid.UUID) -> tuple[ExplanationJob, int]:
    with context.sessions() as session:
        job = session.get(ExplanationJob, job_id)
        results = session.scalar(
            select(func.count())
            .select_from(ExplanationResult)
            .where(ExplanationResult.job_id == job_id)
        )
    assert job is not None
    return job, int(results or 0)


def test_served_model_explains_and_archives_once(pg_settings: Settings, bundles_dir: Path) -> None:
    context = context_for(pg_settings, bundles_dir)
    job_id = predict(pg_settings)
    run_job(job_id=job_id, context=context)
    run_job(job_id=job_id, context=context)  # a redelivery does nothing
    job, results = outcome(context, job_id)
    assert job.status is JobStatus.succeeded and job.attempts == 1 and results == 1
    with context.sessions() as session:  # the prediction and its explanation are on the chain
        kinds = session.scalars(
            select(AuditRecord.kind).where(AuditRecord.subject_id == str(job.prediction_id))
        ).all()
        report = audit.verify(session)
    assert sorted(kinds) == ["explanation", "prediction"]
    assert report.ok, report


def test_a_tampered_twin_fails_parity_and_archives_nothing(
    pg_settings: Settings, bundles_dir: Path
) -> None:
    context = context_for(pg_settings, bundles_dir)
    bundle = context.models.registry.get("tiny-cnn")
    model = context.models.load(name=bundle.name, version=bundle.version, sha256=bundle.sha256)
    assert model.twin is not None
    with torch.no_grad():
        next(model.twin.parameters()).add_(0.5)
    job_id = predict(pg_settings)
    run_job(job_id=job_id, context=context)
    job, results = outcome(context, job_id)
    assert job.status is JobStatus.failed and results == 0
    assert "parity check failed" in (job.last_error or "")


def test_changed_model_bytes_are_refused(
    pg_settings: Settings, bundles_dir: Path, tmp_path: Path
) -> None:
    worker_bundles = tmp_path / "bundles"
    shutil.copytree(bundles_dir, worker_bundles)
    model_file = worker_bundles / "tiny-cnn" / "v1" / "model.onnx"
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # other bytes, other sha256
    context = context_for(pg_settings, worker_bundles)
    job_id = predict(pg_settings)
    run_job(job_id=job_id, context=context)
    job, results = outcome(context, job_id)
    assert job.status is JobStatus.failed and results == 0
    assert "pinned" in (job.last_error or "")


@pytest.mark.parametrize("method", ["gradcam"])
def test_an_explainer_that_raises_is_retried_then_failed(
    pg_settings: Settings, bundles_dir: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.worker.explainers import gradcam

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("poison")

    monkeypatch.setattr(gradcam.GradCamExplainer, "explain", explode)
    settings = pg_settings.model_copy(update={"max_attempts": 2})
    context = context_for(settings, bundles_dir)
    job_id = predict(settings, methods=method)
    run_job(job_id=job_id, context=context)
    assert outcome(context, job_id)[0].status is JobStatus.queued
    run_job(job_id=job_id, context=context)
    job, results = outcome(context, job_id)
    assert job.status is JobStatus.failed and results == 0 and job.attempts == 2
    assert job.last_error == "gave up after 2 attempts: RuntimeError: poison"
