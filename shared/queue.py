"""Publishing job ids to the queue, by task name, after the commit, with a bounded wait.

If the broker is unreachable the jobs stay ``queued`` in the record and the worker's
reconciler publishes them later: a publish failure never fails a request. Every wait on the
broker is bounded by ``publish_timeout_s`` (connect and socket timeouts, no retries), so a
broker that is down or hung (accepting connections, answering nothing) costs each publish at
most that long.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from shared.contracts import EXPLAIN_QUEUE, EXPLAIN_TASK, ExplainMessage
from shared.db import jobs

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
        sent: list[uuid.UUID] = []
        for job_id in job_ids:
            body = ExplainMessage(job_id=job_id).model_dump(mode="json")
            try:
                self.client.send_task(
                    EXPLAIN_TASK,
                    kwargs=body,
                    queue=EXPLAIN_QUEUE,
                    retry=False,
                    task_id=str(job_id),
                )
            except Exception as exc:  # kombu raises many transport-specific errors
                log.warning(
                    "publish of job %s failed, left queued for the reconciler: %s", job_id, exc
                )
                break
            sent.append(job_id)
        return sent

    def publish_committed(
        self, job_ids: list[uuid.UUID], *, sessions: sessionmaker[Session]
    ) -> None:
        """Publish jobs just committed as published (the API's one commit per prediction).

        Never raises: it runs after the response. Jobs the broker did not take are handed to
        the reconciler's next pass; if the record is unreachable too, they stay recorded as
        published once and the reconciler re-publishes them after ``requeue_after_s``.
        """
        sent = set(self.publish(job_ids))
        unsent = [job_id for job_id in job_ids if job_id not in sent]
        if not unsent:
            return
        try:
            with sessions.begin() as session:
                jobs.mark_unpublished(session, unsent)
        except SQLAlchemyError as exc:
            log.warning("could not hand %d jobs to the reconciler now: %s", len(unsent), exc)

    def ping(self, timeout_s: float) -> bool:
        try:
            with self.client.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout_s)
            return True
        except Exception:
            return False
