"""The job state machine on real Postgres and on SQLite: only conditional UPDATEs move a job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import jobs, repository
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import ExplanationJob, ExplanationResult, JobStatus, Prediction


@pytest.fixture(params=["postgres", "sqlite"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path}/jobs.db"
        upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def new_job(sessions: sessionmaker[Session]) -> uuid.UUID:
    with sessions.begin() as session:
        blob = repository.put_blob(session, data=uuid.uuid4().bytes, media_type="x/test")
        job = ExplanationJob(method="saliency", parameters={}, target=0, seed=1)
        session.add(
            Prediction(
                model_name="m",
                model_version="v",
                model_sha256="0" * 64,
                input_kind="image",
                input_media_type="image/png",
                input_sha256=blob,
                tensor_sha256=blob,
                preprocessing={},
                label="a",
                probability=1.0,
                probabilities={"a": 1.0},
                request_fingerprint="f",
                runtime_versions={},
                jobs=[job],
            )
        )
        session.flush()
        return job.id


def claim(sessions: sessionmaker[Session], job_id: uuid.UUID, lease_s: float = 60) -> int | None:
    with sessions.begin() as session:
        return jobs.claim(session, job_id=job_id, lease_s=lease_s, worker="w", device="cpu")


def status(sessions: sessionmaker[Session], job_id: uuid.UUID) -> ExplanationJob:
    with sessions() as session:
        job = session.get(ExplanationJob, job_id)
        assert job is not None
        return job


def result_for(job_id: uuid.UUID, blob: str) -> ExplanationResult:
    return ExplanationResult(
        job_id=job_id,
        model_sha256="0" * 64,
        attributions_sha256=blob,
        attributions_shape=[1],
        attributions_dtype="float32",
        baseline={},
        parameters={},
        quality={},
        summary={},
        library_versions={},
        compute_ms=1.0,
    )


def test_a_job_is_claimed_once(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    assert claim(sessions, job_id) == 1
    assert claim(sessions, job_id) is None
    assert status(sessions, job_id).status is JobStatus.running


def test_an_expired_lease_lets_another_worker_claim_and_fences_the_first(
    sessions: sessionmaker[Session],
) -> None:
    job_id = new_job(sessions)
    assert claim(sessions, job_id, lease_s=-1) == 1  # lease already expired
    assert claim(sessions, job_id) == 2
    with sessions.begin() as session:
        blob = repository.put_blob(session, data=b"attr", media_type="application/x-npy")
        assert not jobs.succeed(session, job_id=job_id, attempt=1, result=result_for(job_id, blob))
        assert not jobs.fail(session, job_id=job_id, attempt=1, reason="stale")
        assert jobs.succeed(session, job_id=job_id, attempt=2, result=result_for(job_id, blob))
    with sessions() as session:
        count = session.scalar(
            select(func.count())
            .select_from(ExplanationResult)
            .where(ExplanationResult.job_id == job_id)
        )
    assert count == 1
    assert status(sessions, job_id).status is JobStatus.succeeded
    assert claim(sessions, job_id) is None


def test_release_requeues_until_attempts_are_spent(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    for attempt in (1, 2):
        assert claim(sessions, job_id) == attempt
        with sessions.begin() as session:
            new = jobs.release(
                session, job_id=job_id, attempt=attempt, reason="boom", max_attempts=3
            )
        assert new is JobStatus.queued
    assert claim(sessions, job_id) == 3
    with sessions.begin() as session:
        assert (
            jobs.release(session, job_id=job_id, attempt=3, reason="boom", max_attempts=3)
            is JobStatus.failed
        )
    job = status(sessions, job_id)
    assert job.status is JobStatus.failed and job.last_error == "gave up after 3 attempts: boom"


def test_expire_leases_requeues_or_fails(sessions: sessionmaker[Session]) -> None:
    lost, spent = new_job(sessions), new_job(sessions)
    claim(sessions, lost, lease_s=-1)
    for _ in range(2):
        claim(sessions, spent, lease_s=-1)
    with sessions.begin() as session:
        requeued, failed = jobs.expire_leases(session, max_attempts=2)
    assert (requeued, failed) >= (1, 1)
    assert status(sessions, lost).status is JobStatus.queued
    assert status(sessions, spent).status is JobStatus.failed


def test_due_for_publish_waits_longer_after_each_publish(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    with sessions.begin() as session:
        assert job_id not in jobs.due_for_publish(session, grace_s=60, requeue_after_s=10)
        assert job_id in jobs.due_for_publish(session, grace_s=0, requeue_after_s=10)
        jobs.mark_published(session, [job_id])
        for publishes in (1, 2, 3):
            job = session.get(ExplanationJob, job_id)
            job.publishes = publishes
            wait = 10 * 2 ** (publishes - 1)
            job.published_at = jobs.now() - timedelta(seconds=wait - 1)
            session.flush()
            assert job_id not in jobs.due_for_publish(session, grace_s=0, requeue_after_s=10)
            job.published_at = jobs.now() - timedelta(seconds=wait + 1)
            session.flush()
            assert job_id in jobs.due_for_publish(session, grace_s=0, requeue_after_s=10)
