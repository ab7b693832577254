"""The leased-work runner's control flow, with a fake kind of work on an in-memory SQLite
record: success archives once, refusals fail at once, unexpected errors are given back until
the attempts are spent, a database outage is transient, and the heartbeat keeps the lease."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from services.worker import runner
from shared.db import jobs, leases
from shared.db.models import Base, ExplanationJob, JobStatus


class Refused(Exception):
    pass


@dataclass(frozen=True)
class FakeSettings:
    job_lease_s: float = 60
    max_attempts: int = 2


@dataclass(frozen=True)
class FakeContext:
    sessions: sessionmaker[Session]
    settings: FakeSettings = field(default_factory=FakeSettings)
    name: str = "host:1"
    device: str = "cpu"


@dataclass
class Calls:
    computed: int = 0
    archived: list[int] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    lease_held_s: float | None = None


@pytest.fixture
def sessions() -> Iterator[sessionmaker[Session]]:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def queued_job(sessions: sessionmaker[Session]) -> uuid.UUID:
    with sessions.begin() as session:
        job = ExplanationJob(
            prediction_id=uuid.uuid4(), method="saliency", parameters={}, target=0, seed=1
        )
        session.add(job)
        session.flush()
        return job.id


def kind(calls: Calls, compute: Callable[[], str] = lambda: "value") -> runner.Kind[str]:
    def computing(item_id: uuid.UUID, context: Any) -> str:
        calls.computed += 1
        return compute()

    def archive(session: Session, item_id: uuid.UUID, attempt: int, value: str) -> bool:
        assert value == "value"
        row = session.get(ExplanationJob, item_id)
        assert row is not None and row.lease_until is not None and row.started_at is not None
        calls.lease_held_s = (row.lease_until - row.started_at).total_seconds()
        calls.archived.append(attempt)
        return leases.succeed(session, jobs.JOBS, item_id=item_id, attempt=attempt) is not None

    def on_failed(session: Session, item_id: uuid.UUID) -> None:
        row = session.get(ExplanationJob, item_id)
        assert row is not None and row.status is JobStatus.failed  # in the same transaction
        calls.failed.append(item_id)

    return runner.Kind(
        name="fake",
        table=jobs.JOBS,
        publish=lambda publisher, ids: ids,
        compute=computing,
        archive=archive,
        refusals=(Refused,),
        on_failed=on_failed,
    )


def job(sessions: sessionmaker[Session], job_id: uuid.UUID) -> ExplanationJob:
    with sessions() as session:
        row = session.get(ExplanationJob, job_id)
        assert row is not None
        return row


def run(work: runner.Kind[str], job_id: uuid.UUID, context: FakeContext) -> None:
    runner.run(work, item_id=job_id, context=context)  # type: ignore[arg-type]


def test_success_archives_once_and_a_redelivery_does_nothing(
    sessions: sessionmaker[Session],
) -> None:
    calls, context, job_id = Calls(), FakeContext(sessions), queued_job(sessions)
    run(kind(calls), job_id, context)
    run(kind(calls), job_id, context)
    done = job(sessions, job_id)
    assert (done.status, done.attempts, done.worker) == (JobStatus.succeeded, 1, "host:1")
    assert (calls.computed, calls.archived, calls.failed) == (1, [1], [])


def test_a_refusal_fails_at_once_with_its_reason(sessions: sessionmaker[Session]) -> None:
    calls, context, job_id = Calls(), FakeContext(sessions), queued_job(sessions)

    def refuse() -> str:
        raise Refused("no such layer")

    run(kind(calls, refuse), job_id, context)
    failed = job(sessions, job_id)
    assert (failed.status, failed.attempts, failed.last_error) == (
        JobStatus.failed,
        1,
        "no such layer",
    )
    assert calls.failed == [job_id] and calls.archived == []


def test_an_unexpected_error_is_given_back_until_the_attempts_are_spent(
    sessions: sessionmaker[Session],
) -> None:
    calls, context, job_id = Calls(), FakeContext(sessions), queued_job(sessions)

    def boom() -> str:
        raise RuntimeError("boom")

    run(kind(calls, boom), job_id, context)
    given_back = job(sessions, job_id)
    assert (given_back.status, given_back.last_error) == (JobStatus.queued, "RuntimeError: boom")
    assert given_back.published_at is None and calls.failed == []  # the reconciler publishes it
    run(kind(calls, boom), job_id, context)
    failed = job(sessions, job_id)
    assert (failed.status, failed.attempts) == (JobStatus.failed, 2)
    assert failed.last_error == "gave up after 2 attempts: RuntimeError: boom"
    assert calls.failed == [job_id]


def test_a_database_outage_gives_back_and_is_transient(sessions: sessionmaker[Session]) -> None:
    calls, context, job_id = Calls(), FakeContext(sessions), queued_job(sessions)

    def outage() -> str:
        raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))

    with pytest.raises(runner.TransientError):
        run(kind(calls, outage), job_id, context)
    given_back = job(sessions, job_id)
    assert given_back.status is JobStatus.queued and given_back.attempts == 1
    assert given_back.last_error is not None and "database error" in given_back.last_error


def test_the_heartbeat_renews_the_lease_while_computing(sessions: sessionmaker[Session]) -> None:
    lease_s = 0.6
    calls, job_id = Calls(), queued_job(sessions)
    context = FakeContext(sessions, FakeSettings(job_lease_s=lease_s))

    def slow() -> str:
        time.sleep(3 * lease_s / 2)  # past the first lease; renewed every lease_s / 3
        return "value"

    run(kind(calls, slow), job_id, context)
    assert calls.archived == [1]
    assert calls.lease_held_s is not None and calls.lease_held_s >= lease_s + lease_s / 3
    assert job(sessions, job_id).status is JobStatus.succeeded
