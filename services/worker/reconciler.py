"""The reconciler: Postgres is the truth, the broker only wakes workers.

Every few seconds it (1) gives back ``running`` jobs whose worker lease expired (``failed`` once
their attempts are spent) and (2) re-publishes ``queued`` jobs whose message may be lost (never
published, or published long ago, e.g. Redis restarted empty). Duplicated messages are harmless:
a worker claims a job with a conditional UPDATE. Several reconcilers may run at once. Replays
(:mod:`shared.db.replays`) get the same two steps; only their worker ever ends them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.db import jobs, replays
from shared.db.engine import make_engine, make_session_factory
from shared.queue import Publisher, make_client
from shared.settings import Settings

log = logging.getLogger("xai.reconciler")


@dataclass(frozen=True)
class Pass:
    requeued: int
    failed: int
    published: int
    due: int
    replays_requeued: int = 0
    replays_published: int = 0
    replays_due: int = 0

    @property
    def eventful(self) -> bool:
        return any((self.requeued, self.failed, self.due, self.replays_requeued, self.replays_due))


def reconcile_once(
    *, sessions: sessionmaker[Session], publisher: Publisher, settings: Settings
) -> Pass:
    with sessions.begin() as session:
        requeued, failed = jobs.expire_leases(session, max_attempts=settings.max_attempts)
        due = jobs.due_for_publish(
            session, grace_s=settings.requeue_after_s / 3, requeue_after_s=settings.requeue_after_s
        )
        replays_requeued = replays.expire_leases(session, lease_s=settings.job_lease_s)
        replays_due = replays.due_for_publish(session, requeue_after_s=settings.requeue_after_s)
    sent = publisher.publish(due) if due else []
    replays_sent = publisher.publish_replays(replays_due) if replays_due else []
    if sent or replays_sent:
        with sessions.begin() as session:
            jobs.mark_published(session, sent)
            replays.mark_published(session, replays_sent)
    return Pass(
        requeued=requeued,
        failed=failed,
        published=len(sent),
        due=len(due),
        replays_requeued=replays_requeued,
        replays_published=len(replays_sent),
        replays_due=len(replays_due),
    )


def run_forever(settings: Settings, *, passes: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sessions = make_session_factory(make_engine(settings.database_url))
    publisher = Publisher(make_client(settings.broker_url, timeout_s=settings.publish_timeout_s))
    done = 0
    while passes is None or done < passes:
        try:
            result = reconcile_once(sessions=sessions, publisher=publisher, settings=settings)
            if result.eventful:
                log.info("%s", result)
        except OperationalError as exc:
            log.warning("database unavailable, will retry: %s", exc.orig)
        done += 1
        time.sleep(settings.reconcile_interval_s)
