"""Where the API process learns that explanation jobs changed: one change source per process.

- Postgres: one ``LISTEN`` connection; a trigger notifies each committed status change with
  the prediction id (:mod:`shared.db.notify`). After every (re)connect the watcher re-reads
  all watched predictions, since notifications sent while disconnected are lost.
- SQLite: no notifications reach another process; the watcher re-reads every watched
  prediction every ``poll_s`` in one query and delivers only what changed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from services.api.explanations.watch import ChangeSource, JobWatch
from shared.db.notify import JOB_STATUS_CHANNEL

log = logging.getLogger(__name__)

EVENTS_POLL_S = 1.0  # SQLite: how often the watcher re-reads the watched predictions
LISTENER_NAME = "xai-api job-watch"  # its application_name in pg_stat_activity
_LIVENESS_S = 30.0  # an idle listener checks its connection this often
_MAX_BACKOFF_S = 10.0


def change_source(database_url: str, *, poll_s: float) -> ChangeSource:
    if database_url.startswith("postgresql"):
        return listen_source(libpq_dsn(database_url))
    return poll_source(poll_s)


def libpq_dsn(database_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://…``) as a libpq connection string."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def listen_source(dsn: str) -> ChangeSource:
    async def listen(watch: JobWatch) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, connect_timeout=3, application_name=LISTENER_NAME
                ) as connection:
                    await connection.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(JOB_STATUS_CHANNEL))
                    )
                    watch.resync()
                    backoff = 0.5
                    while True:
                        async for note in connection.notifies(timeout=_LIVENESS_S):
                            watch.changed(_ids(note.payload))
                        await connection.execute("SELECT 1")
            except (psycopg.Error, OSError) as exc:
                log.warning("job-status listener lost (%s); reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    return listen


def _ids(payload: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(payload)]
    except ValueError:
        log.warning("ignoring a job-status notification %r", payload)
        return []


def poll_source(poll_s: float) -> ChangeSource:
    async def poll(watch: JobWatch) -> None:
        while True:
            await asyncio.sleep(poll_s)
            watch.resync()

    return poll
