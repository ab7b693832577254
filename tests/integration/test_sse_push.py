"""The events stream is pushed, not polled: on Postgres, a committed job transition reaches
every open stream through the process's one LISTEN connection, and the API reads the
database once per change for all its clients, never per client while they wait. On SQLite,
one poll per process serves every stream."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from services.api.app import create_app
from services.api.explanations.sources import EVENTS_POLL_S, LISTENER_NAME
from shared.db import jobs
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import Role
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.processes import wait_for
from tests.support.tokens import issue

CLIENTS = 3
WAIT_S = 20.0  # bounds every wait for an event: a missing push fails the test, never hangs it


@dataclass
class Statements:
    """Statements the API process's engine sent to the database."""

    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, *_: object) -> None:
        with self.lock:
            self.count += 1


@pytest.fixture
def api(
    pg_settings: Settings, clinician: dict[str, str]
) -> Iterator[tuple[TestClient, Statements]]:
    statements = Statements()
    with TestClient(create_app(pg_settings), headers=clinician) as client:
        engine = client.app.state.xai.engine  # type: ignore[attr-defined]
        wait_for(lambda: _listening(engine), timeout=WAIT_S, what="the job-status listener")
        event.listen(engine, "before_cursor_execute", statements)
        yield client, statements
        event.remove(engine, "before_cursor_execute", statements)


def _listening(engine: Engine) -> bool:
    """The API process's listener has run its LISTEN (before that, a change goes unheard)."""
    with engine.connect() as connection:
        found = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                "AND datname = current_database() AND query LIKE 'LISTEN%'"
            ),
            {"name": LISTENER_NAME},
        )
    return bool(found)


def _read_events(client: TestClient, url: str, sink: queue.Queue[tuple[str, dict]]) -> None:
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind is not None:
                sink.put((kind, json.loads(line.removeprefix("data: "))))
                if kind == "done":
                    return


def _next_event(sink: queue.Queue[tuple[str, dict]]) -> tuple[str, dict]:
    return sink.get(timeout=WAIT_S)


Sink = queue.Queue[tuple[str, dict]]


def _open_streams(
    client: TestClient, body: dict, count: int, *, method: str = "saliency"
) -> tuple[uuid.UUID, list[Sink], list[threading.Thread]]:
    """``count`` readers of the prediction's stream, each having seen its one job queued."""
    job_id = uuid.UUID(body["explanations"][0]["id"])
    sinks: list[Sink] = [queue.Queue() for _ in range(count)]
    readers = [
        threading.Thread(target=_read_events, args=(client, body["links"]["events"], sink))
        for sink in sinks
    ]
    for reader in readers:
        reader.start()
    for sink in sinks:
        assert _next_event(sink) == ("job", _job(job_id, "queued", method=method))
    return job_id, sinks, readers


def _one_stream(client: TestClient) -> tuple[uuid.UUID, Sink, threading.Thread]:
    """A new prediction with one job, and a reader of its stream that has seen it queued."""
    body = client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    job_id, sinks, readers = _open_streams(client, body, 1)
    return job_id, sinks[0], readers[0]


def test_a_committed_transition_is_pushed_to_every_stream_without_per_client_reads(
    api: tuple[TestClient, Statements], pg_settings: Settings
) -> None:
    client, statements = api
    body = client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    job_id, sinks, readers = _open_streams(client, body, CLIENTS)

    worker = make_engine(pg_settings.database_url)
    sessions = make_session_factory(worker)
    try:
        idle = statements.count
        # The streams wait on their subscription: no statement while nothing changes, however
        # long they wait (a stream that polled every 250 ms would have read 4 times each).
        threading.Event().wait(1.0)
        assert statements.count == idle

        with sessions.begin() as session:
            attempt = jobs.claim(session, job_id=job_id, lease_s=60, worker="test", device="cpu")
        assert attempt == 1
        for sink in sinks:
            assert _next_event(sink) == ("job", _job(job_id, "running"))
        assert statements.count - idle == 1, "one read for all streams"

        with sessions.begin() as session:
            assert jobs.fail(session, job_id=job_id, attempt=attempt, reason="test ends it")
        for sink in sinks:
            assert _next_event(sink) == ("job", _job(job_id, "failed", "test ends it"))
            assert _next_event(sink) == ("done", {})
        assert statements.count - idle == 2
    finally:
        worker.dispose()
        for reader in readers:
            reader.join(timeout=WAIT_S)
    assert not any(reader.is_alive() for reader in readers)


def test_a_rolled_back_transition_is_not_pushed(
    api: tuple[TestClient, Statements], pg_settings: Settings
) -> None:
    client, statements = api
    job_id, sink, reader = _one_stream(client)
    worker = make_engine(pg_settings.database_url)
    sessions = make_session_factory(worker)
    try:
        idle = statements.count
        with sessions() as session:
            jobs.claim(session, job_id=job_id, lease_s=60, worker="test", device="cpu")
            session.rollback()
        with sessions.begin() as session:
            attempt = jobs.claim(session, job_id=job_id, lease_s=60, worker="test", device="cpu")
            assert attempt == 1
            assert jobs.fail(session, job_id=job_id, attempt=attempt, reason="one commit")
        # Only the committed transaction is announced; the stream sees its outcome once.
        assert _next_event(sink) == ("job", _job(job_id, "failed", "one commit"))
        assert _next_event(sink) == ("done", {})
        assert statements.count - idle == 1
    finally:
        worker.dispose()
        reader.join(timeout=WAIT_S)
    assert not reader.is_alive()


def test_a_lost_listener_reconnects_and_delivers_what_changed_meanwhile(
    api: tuple[TestClient, Statements], pg_settings: Settings
) -> None:
    client, _ = api
    job_id, sink, reader = _one_stream(client)
    worker = make_engine(pg_settings.database_url)
    sessions = make_session_factory(worker)
    try:
        with sessions.begin() as session:
            # The listener's connection dies; the claim commits before it is back (its first
            # retry waits 0.5 s), so the notification is lost: the re-read after the
            # reconnect delivers the change.
            killed = session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LISTENER_NAME},
            )
        assert killed == 1
        with sessions.begin() as session:
            attempt = jobs.claim(session, job_id=job_id, lease_s=60, worker="test", device="cpu")
        assert attempt == 1
        assert _next_event(sink) == ("job", _job(job_id, "running"))
        with sessions.begin() as session:
            assert jobs.fail(session, job_id=job_id, attempt=attempt, reason="after reconnect")
        assert _next_event(sink) == ("job", _job(job_id, "failed", "after reconnect"))
        assert _next_event(sink) == ("done", {})
    finally:
        worker.dispose()
        reader.join(timeout=WAIT_S)
    assert not reader.is_alive()


def test_on_sqlite_one_poll_per_process_serves_every_stream(
    tmp_path: Path, bundles_dir: Path
) -> None:
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path}/xai.db",
        broker_url=f"sqla+sqlite:///{tmp_path}/broker.db",
        bundles_dir=bundles_dir,
    )
    upgrade(settings.database_url)
    statements = Statements()
    headers = issue(settings.database_url, Role.clinician).headers
    with TestClient(create_app(settings), headers=headers) as client:
        event.listen(client.app.state.xai.engine, "before_cursor_execute", statements)  # type: ignore[attr-defined]
        body = client.post(
            "/v1/predictions",
            json={"model": "tiny-gbt", "features": breast_cancer_case(2), "methods": ["tree_shap"]},
        ).json()
        job_id, sinks, readers = _open_streams(client, body, CLIENTS, method="tree_shap")
        idle = statements.count
        threading.Event().wait(2.5)
        # One read per poll (every EVENTS_POLL_S) for all streams: at most 3 in 2.5 s, plus
        # one already under way; a stream polling on its own would read 10 times each.
        assert statements.count - idle <= 2.5 / EVENTS_POLL_S + 1
        worker = make_engine(settings.database_url)
        sessions = make_session_factory(worker)
        try:
            with sessions.begin() as session:
                attempt = jobs.claim(session, job_id=job_id, lease_s=60, worker="t", device="cpu")
                assert attempt == 1
                assert jobs.fail(session, job_id=job_id, attempt=attempt, reason="ends")
            for sink in sinks:
                assert _next_event(sink) == ("job", _job(job_id, "failed", "ends", "tree_shap"))
                assert _next_event(sink) == ("done", {})
        finally:
            worker.dispose()
            for reader in readers:
                reader.join(timeout=WAIT_S)
    assert not any(reader.is_alive() for reader in readers)


def _job(
    job_id: uuid.UUID, status: str, error: str | None = None, method: str = "saliency"
) -> dict[str, object]:
    return {
        "id": str(job_id),
        "method": method,
        "status": status,
        "last_error": error,
        "links": {"self": f"/v1/explanations/{job_id}"},
    }
