"""Publishing job and replay ids to the queue, by task name, after the commit, with a bounded
wait.

If the broker is unreachable the jobs (and replays) stay ``queued`` in the record and the worker's
reconciler publishes them later: a publish failure never fails a request. Every wait on the
broker is bounded by ``publish_timeout_s`` (connect and socket timeouts, no retries), so a
broker that is down or hung (accepting connections, answering nothing) costs each publish at
most that long.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from shared.contracts import (
    EXPLAIN_QUEUE,
    EXPLAIN_TASK,
    REPLAY_TASK,
    ExplainMessage,
    ReplayMessage,
)
from shared.db import jobs, replays

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def make_client(broker_url: str, *, timeout_s: float) -> Celery:
    from celery import Celery

    client = Celery("xai-publisher", broker=broker_url, set_as_current=False)
    options: dict[str, object] = {}
    if broker_url.startswith(("redis://", "rediss://")):
        # Bounded waits: a publish must never hang while Redis is down.
        options = {
            "socket_timeout": timeout_s,
            "socket_connect_timeout": timeout_s,
            "max_retries": 0,
        }
    client.conf.update(
        broker_connection_timeout=timeout_s,
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        task_publish_retry=False,
        broker_transport_options=options,
    )
    return client


class Publisher:
    def __init__(self, client: Celery) -> None:
        self.client = client

    def publish(self, job_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """Publish each job; return those that reached the broker."""
        return self._send(EXPLAIN_TASK, job_ids, lambda job_id: ExplainMessage(job_id=job_id))

    def publish_replays(self, replay_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """Publish each replay; return those that reached the broker."""
        return self._send(REPLAY_TASK, replay_ids, lambda rid: ReplayMessage(replay_id=rid))

    def publish_committed(
        self, job_ids: list[uuid.UUID], *, sessions: sessionmaker[Session]
    ) -> None:
        """Publish jobs just committed as published (the API's one commit per prediction).

        Never raises: it runs after the response. Jobs the broker did not take are handed to
        the reconciler's next pass; if the record is unreachable too, they stay recorded as
        published once and the reconciler re-publishes them after ``requeue_after_s``.
        """
        self._after_commit(job_ids, self.publish, jobs.mark_unpublished, sessions)

    def publish_replays_committed(
        self, replay_ids: list[uuid.UUID], *, sessions: sessionmaker[Session]
    ) -> None:
        """Like :meth:`publish_committed`, for replays just committed as published."""
        self._after_commit(replay_ids, self.publish_replays, replays.mark_unpublished, sessions)

    def _send(
        self,
        task: str,
        ids: Iterable[uuid.UUID],
        message: Callable[[uuid.UUID], BaseModel],
    ) -> list[uuid.UUID]:
        sent: list[uuid.UUID] = []
        for item_id in ids:
            body = message(item_id).model_dump(mode="json")
            try:
                self.client.send_task(
                    task,
                    kwargs=body,
                    queue=EXPLAIN_QUEUE,
                    retry=False,
                    task_id=str(item_id),
                )
            except Exception as exc:  # kombu raises many transport-specific errors
                log.warning(
                    "publish of %s %s failed, left queued for the reconciler: %s",
                    task,
                    item_id,
                    exc,
                )
                break
            sent.append(item_id)
        return sent

    @staticmethod
    def _after_commit(
        ids: list[uuid.UUID],
        publish: Callable[[list[uuid.UUID]], list[uuid.UUID]],
        unpublish: Callable[[Session, list[uuid.UUID]], None],
        sessions: sessionmaker[Session],
    ) -> None:
        sent = set(publish(ids))
        unsent = [item_id for item_id in ids if item_id not in sent]
        if not unsent:
            return
        try:
            with sessions.begin() as session:
                unpublish(session, unsent)
        except SQLAlchemyError as exc:
            log.warning("could not hand %d messages to the reconciler now: %s", len(unsent), exc)

    def ping(self, timeout_s: float) -> bool:
        try:
            with self.client.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout_s)
            return True
        except Exception:
            return False
