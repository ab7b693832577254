"""The leased-work state machine (:mod:`shared.db.leases`) on real Postgres and on SQLite, for
both tables that use it (explanation jobs, replays): only conditional UPDATEs move a row, and
the attempt number fences a worker that lost its lease."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db import jobs, leases, repository
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import ExplanationJob, ExplanationResult, JobStatus, Prediction, Replay
from shared.db.replays import REPLAYS


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


def new_replay(sessions: sessionmaker[Session]) -> uuid.UUID:
    job_id = new_job(sessions)
    with sessions.begin() as session:
        replay = Replay(job_id=job_id, requested_by="auditor", purpose="test", attempts=0)
        session.add(replay)
        session.flush()
        return replay.id


KINDS: dict[str, tuple[leases.LeasedTable, Callable[[sessionmaker[Session]], uuid.UUID]]] = {
    "jobs": (jobs.JOBS, new_job),
    "replays": (REPLAYS, new_replay),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def claim(
    sessions: sessionmaker[Session],
    job_id: uuid.UUID,
    lease_s: float = 60,
    *,
    table: leases.LeasedTable = jobs.JOBS,
    max_attempts: int | None = None,
) -> int | None:
    with sessions.begin() as session:
        return leases.claim(
            session, table, item_id=job_id, lease_s=lease_s, worker="w", max_attempts=max_attempts
        )


def row(sessions: sessionmaker[Session], item_id: uuid.UUID, table: leases.LeasedTable) -> Any:
    with sessions() as session:
        found = session.get(table.model, item_id)
        assert found is not None
        return found


def status(sessions: sessionmaker[Session], job_id: uuid.UUID) -> ExplanationJob:
    found: ExplanationJob = row(sessions, job_id, jobs.JOBS)
    return found


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


def test_a_row_is_claimed_once_by_a_worker(sessions: sessionmaker[Session], kind: str) -> None:
    table, new = KINDS[kind]
    item_id = new(sessions)
    assert claim(sessions, item_id, table=table) == 1
    assert claim(sessions, item_id, table=table) is None
    claimed = row(sessions, item_id, table)
    assert (claimed.status, claimed.worker, claimed.attempts) == (JobStatus.running, "w", 1)
    assert claimed.lease_until > claimed.started_at


def test_an_expired_lease_lets_another_worker_claim_and_fences_the_first(
    sessions: sessionmaker[Session], kind: str
) -> None:
    table, new = KINDS[kind]
    item_id = new(sessions)
    assert claim(sessions, item_id, lease_s=-1, table=table) == 1  # lease already expired
    assert claim(sessions, item_id, table=table) == 2
    with sessions.begin() as session:
        assert not leases.renew(session, table, item_id=item_id, attempt=1, lease_s=60)
        assert leases.succeed(session, table, item_id=item_id, attempt=1) is None
        assert leases.fail(session, table, item_id=item_id, attempt=1, reason="stale") is None
        assert (
            leases.give_back(
                session, table, item_id=item_id, attempt=1, reason="stale", max_attempts=5
            )
            is None
        )
        assert leases.succeed(session, table, item_id=item_id, attempt=2) is not None
    done = row(sessions, item_id, table)
    assert (done.status, done.lease_until) == (JobStatus.succeeded, None)
    assert claim(sessions, item_id, table=table) is None


def test_a_stale_worker_archives_no_second_result(sessions: sessionmaker[Session]) -> None:
    job_id = new_job(sessions)
    assert claim(sessions, job_id, lease_s=-1) == 1
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


def test_renewing_the_lease_keeps_the_claim(sessions: sessionmaker[Session], kind: str) -> None:
    table, new = KINDS[kind]
    item_id = new(sessions)
    assert claim(sessions, item_id, lease_s=-1, table=table) == 1
    with sessions.begin() as session:
        assert leases.renew(session, table, item_id=item_id, attempt=1, lease_s=60)
    assert claim(sessions, item_id, table=table) is None  # the lease runs again
    with sessions.begin() as session:
        assert leases.expire_leases(session, table, max_attempts=5) == leases.Expired(0, [])


def test_giving_back_requeues_until_attempts_are_spent(
    sessions: sessionmaker[Session], kind: str
) -> None:
    table, new = KINDS[kind]
    item_id = new(sessions)
    for attempt in (1, 2):
        assert claim(sessions, item_id, table=table) == attempt
        with sessions.begin() as session:
            new_status = leases.give_back(
                session, table, item_id=item_id, attempt=attempt, reason="boom", max_attempts=3
            )
        assert new_status is JobStatus.queued
        given = row(sessions, item_id, table)
        assert (given.published_at, getattr(given, table.error)) == (None, "boom")
    assert claim(sessions, item_id, table=table) == 3
    with sessions.begin() as session:
        assert (
            leases.give_back(
                session, table, item_id=item_id, attempt=3, reason="boom", max_attempts=3
            )
            is JobStatus.failed
        )
    failed = row(sessions, item_id, table)
    assert failed.status is JobStatus.failed and failed.finished_at is not None
    assert getattr(failed, table.error) == "gave up after 3 attempts: boom"


def test_expire_leases_requeues_or_fails(sessions: sessionmaker[Session], kind: str) -> None:
    table, new = KINDS[kind]
    lost, spent, live = new(sessions), new(sessions), new(sessions)
    claim(sessions, lost, lease_s=-1, table=table)
    claim(sessions, live, table=table)
    for _ in range(2):
        claim(sessions, spent, lease_s=-1, table=table)
    # Spent and expired: no worker may claim it again; the sweep ends it.
    assert claim(sessions, spent, table=table, max_attempts=2) is None
    with sessions.begin() as session:
        expired = leases.expire_leases(session, table, max_attempts=2)
    assert spent in expired.failed and lost not in expired.failed and expired.requeued >= 1
    requeued, failed = row(sessions, lost, table), row(sessions, spent, table)
    assert (requeued.status, requeued.published_at) == (JobStatus.queued, None)
    assert failed.status is JobStatus.failed
    assert getattr(failed, table.error) == "worker lost 2 times (lease expired); gave up"
    assert row(sessions, live, table).status is JobStatus.running


def test_due_for_publish_waits_longer_after_each_publish(
    sessions: sessionmaker[Session], kind: str
) -> None:
    table, new = KINDS[kind]
    item_id = new(sessions)
    with sessions.begin() as session:
        assert item_id in leases.due_for_publish(session, table, requeue_after_s=10)
        leases.mark_published(session, table, [item_id])
        assert item_id not in leases.due_for_publish(session, table, requeue_after_s=10)
        for publishes in (1, 2, 3):
            found = session.get(table.model, item_id)
            found.publishes = publishes
            wait = 10 * 2 ** (publishes - 1)
            found.published_at = leases.now() - timedelta(seconds=wait - 1)
            session.flush()
            assert item_id not in leases.due_for_publish(session, table, requeue_after_s=10)
            found.published_at = leases.now() - timedelta(seconds=wait + 1)
            session.flush()
            assert item_id in leases.due_for_publish(session, table, requeue_after_s=10)
        leases.mark_unpublished(session, table, [item_id])
        assert item_id in leases.due_for_publish(session, table, requeue_after_s=10)
