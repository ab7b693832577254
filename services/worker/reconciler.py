"""The reconciler: Postgres is the truth, the broker only wakes workers.

Every few seconds one sweep runs over each kind of leased work (explanation jobs, replays): it
(1) gives back ``running`` rows whose worker lease ran out (``failed`` once their attempts are
spent, with what the kind's final status needs, in the same transaction) and (2) re-publishes
``queued`` rows whose message may be lost (never published, or published long ago, e.g. Redis
restarted empty), after the commit. Duplicated messages are harmless: a worker claims with a
conditional UPDATE. Several reconcilers may run at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.worker.explain import JOB
from services.worker.replay import REPLAY
from services.worker.runner import Kind
from shared.db import leases
from shared.db.engine import make_engine, make_session_factory
from shared.queue import Publisher, make_client
from shared.settings import Settings

log = logging.getLogger("xai.reconciler")
KINDS: tuple[Kind[Any], ...] = (JOB, REPLAY)


@dataclass(frozen=True)
class Sweep:
    """One kind's share of a pass."""

    kind: str
    requeued: int
    failed: int
    due: int
    published: int

    @property
    def eventful(self) -> bool:
        return any((self.requeued, self.failed, self.due))


@dataclass(frozen=True)
class Pass:
    sweeps: dict[str, Sweep]

    @property
    def eventful(self) -> bool:
        return any(sweep.eventful for sweep in self.sweeps.values())


def sweep(
    kind: Kind[Any], *, sessions: sessionmaker[Session], publisher: Publisher, settings: Settings
) -> Sweep:
    with sessions.begin() as session:
        expired = leases.expire_leases(session, kind.table, max_attempts=settings.max_attempts)
        for item_id in expired.failed:
            kind.on_failed(session, item_id)
        due = leases.due_for_publish(session, kind.table, requeue_after_s=settings.requeue_after_s)
    sent = kind.publish(publisher, due) if due else []
    if sent:
        with sessions.begin() as session:
            leases.mark_published(session, kind.table, sent)
    return Sweep(
        kind=kind.name,
        requeued=expired.requeued,
        failed=len(expired.failed),
        due=len(due),
        published=len(sent),
    )


def reconcile_once(
    *, sessions: sessionmaker[Session], publisher: Publisher, settings: Settings
) -> Pass:
    return Pass(
        {
            kind.name: sweep(kind, sessions=sessions, publisher=publisher, settings=settings)
            for kind in KINDS
        }
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
