"""One runner for every kind of leased work (explanation jobs, replays).

:func:`run` claims the row (conditional UPDATE; the attempt number is the fencing token), keeps
its lease alive with a heartbeat while the kind computes, then archives in one transaction if
the claim is still ours. A redelivered message for a row that is claimed or final does
nothing. A refusal (an expected problem the kind names) ends the row ``failed`` with its
reason; an unexpected error gives it back (``queued``) until its attempts are spent; a database
outage gives it back and raises :class:`TransientError` for the task to retry. Wherever a row
becomes ``failed`` (here, or in the reconciler's sweep) the kind's ``on_failed`` writes what
a final status needs, in the same transaction.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.worker.context import WorkerContext
from shared.db import leases
from shared.db.models import JobStatus
from shared.queue import Publisher

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientError(Exception):
    """Worth retrying: the database or the broker was briefly unavailable."""


def _nothing(session: Session, item_id: uuid.UUID) -> None:
    """A final ``failed`` needs nothing beyond its status."""


def _no_values(context: WorkerContext) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class Kind(Generic[T]):
    """A kind of leased work: its table, how to wake a worker for it, how to compute and
    archive it, which errors are refusals, and what a ``failed`` row needs besides."""

    name: str
    table: leases.LeasedTable
    publish: Callable[[Publisher, list[uuid.UUID]], list[uuid.UUID]]
    compute: Callable[[uuid.UUID, WorkerContext], T]
    archive: Callable[[Session, uuid.UUID, int, T], bool]
    refusals: tuple[type[Exception], ...]
    on_failed: Callable[[Session, uuid.UUID], None] = _nothing
    claim_values: Callable[[WorkerContext], Mapping[str, object]] = field(default=_no_values)


def run(kind: Kind[T], *, item_id: uuid.UUID, context: WorkerContext) -> None:
    settings = context.settings
    with context.sessions.begin() as session:
        attempt = leases.claim(
            session,
            kind.table,
            item_id=item_id,
            lease_s=settings.job_lease_s,
            worker=context.name,
            max_attempts=settings.max_attempts,
            **kind.claim_values(context),
        )
    if attempt is None:
        log.info("%s %s is claimed or finished elsewhere: nothing to do", kind.name, item_id)
        return
    try:
        with _heartbeat(kind, item_id, attempt, context):
            computed = kind.compute(item_id, context)
        with context.sessions.begin() as session:
            archived = kind.archive(session, item_id, attempt, computed)
    except kind.refusals as exc:
        with context.sessions.begin() as session:
            if leases.fail(session, kind.table, item_id=item_id, attempt=attempt, reason=str(exc)):
                kind.on_failed(session, item_id)
        log.warning("%s %s failed: %s", kind.name, item_id, exc)
        return
    except OperationalError as exc:
        _give_back(kind, item_id, attempt, context, f"database error: {exc.orig!r}")
        raise TransientError(str(exc)) from exc
    except Exception as exc:  # a bug or a poison input: bounded attempts, then failed
        log.exception("%s %s: unexpected error", kind.name, item_id)
        _give_back(kind, item_id, attempt, context, f"{type(exc).__name__}: {exc}")
        return
    outcome = "succeeded" if archived else "was taken over: result dropped"
    log.info("%s %s %s", kind.name, item_id, outcome)


def _give_back(
    kind: Kind[T], item_id: uuid.UUID, attempt: int, context: WorkerContext, reason: str
) -> None:
    try:
        with context.sessions.begin() as session:
            status = leases.give_back(
                session,
                kind.table,
                item_id=item_id,
                attempt=attempt,
                reason=reason[:2000],
                max_attempts=context.settings.max_attempts,
            )
            if status is JobStatus.failed:
                kind.on_failed(session, item_id)
    except OperationalError:
        log.warning(
            "%s %s: could not give back (database down); its lease will expire", kind.name, item_id
        )


@contextmanager
def _heartbeat(
    kind: Kind[T], item_id: uuid.UUID, attempt: int, context: WorkerContext
) -> Iterator[None]:
    """Renew the lease every third of ``job_lease_s`` while the block runs: a live worker
    keeps its claim however long it computes, a lost one (killed) lets it run out."""
    lease_s = context.settings.job_lease_s
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            try:
                with context.sessions.begin() as session:
                    ours = leases.renew(
                        session, kind.table, item_id=item_id, attempt=attempt, lease_s=lease_s
                    )
            except OperationalError as exc:
                log.warning("%s %s: lease not renewed (database): %s", kind.name, item_id, exc)
                continue
            if not ours:
                log.warning("%s %s: the claim was taken over", kind.name, item_id)
                return

    thread = threading.Thread(target=beat, name=f"lease-{item_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=lease_s / 3)
