"""One watcher of explanation-job status per API process, fanning out to every SSE client.

A stream subscribes to its prediction; the watcher learns that some prediction's jobs changed
(from a :mod:`~services.api.explanations.sources` change source), reads the jobs of every
changed prediction that has subscribers in one query, and hands the new states to each of
their subscribers. The database is read once per change, however many clients watch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import ExplanationJob, JobStatus

log = logging.getLogger(__name__)

_BATCH = 500  # prediction ids per read (bounded IN lists)


@dataclass(frozen=True)
class JobState:
    """What a stream reports about one job."""

    id: uuid.UUID
    method: str
    status: JobStatus
    last_error: str | None

    @classmethod
    def of(cls, job: ExplanationJob) -> JobState:
        return cls(id=job.id, method=job.method, status=job.status, last_error=job.last_error)


Jobs = tuple[JobState, ...]


def read_jobs(
    sessions: sessionmaker[Session], prediction_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Jobs]:
    """The jobs of each prediction, in one query per batch of ids."""
    found: dict[uuid.UUID, list[JobState]] = {pid: [] for pid in prediction_ids}
    with sessions() as session:
        for start in range(0, len(prediction_ids), _BATCH):
            batch = prediction_ids[start : start + _BATCH]
            rows = session.execute(
                select(
                    ExplanationJob.prediction_id,
                    ExplanationJob.id,
                    ExplanationJob.method,
                    ExplanationJob.status,
                    ExplanationJob.last_error,
                )
                .where(ExplanationJob.prediction_id.in_(batch))
                .order_by(ExplanationJob.queued_at, ExplanationJob.id)
            ).all()
            for pid, job_id, method, status, error in rows:
                found[pid].append(
                    JobState(id=job_id, method=method, status=status, last_error=error)
                )
    return {pid: tuple(jobs) for pid, jobs in found.items()}


class Subscription:
    """One stream's view: the latest job states the watcher delivered, newest wins."""

    def __init__(self, watch: JobWatch, prediction_id: uuid.UUID) -> None:
        self.prediction_id = prediction_id
        self._watch = watch
        self._latest: Jobs | None = None
        self._changed = asyncio.Event()

    def offer(self, jobs: Jobs) -> None:
        self._latest = jobs
        self._changed.set()

    async def next(self, *, timeout_s: float) -> Jobs | None:
        """The job states delivered since the last call; None if none came within the time."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._changed.wait()
        except TimeoutError:
            return None
        self._changed.clear()
        jobs, self._latest = self._latest, None
        return jobs

    def close(self) -> None:
        self._watch.unsubscribe(self)


ChangeSource = Callable[["JobWatch"], Coroutine[None, None, None]]


class JobWatch:
    """The per-process hub. ``source`` runs for the watcher's lifetime and calls
    :meth:`changed` (these predictions' jobs changed) or :meth:`resync` (anything may have
    changed, e.g. after a reconnect)."""

    def __init__(self, sessions: sessionmaker[Session], source: ChangeSource) -> None:
        self._sessions = sessions
        self._source = source
        self._subscribers: dict[uuid.UUID, set[Subscription]] = {}
        self._delivered: dict[uuid.UUID, Jobs] = {}
        self._dirty: set[uuid.UUID] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._source(self), name="job-watch-source"),
            asyncio.create_task(self._deliver_forever(), name="job-watch-deliver"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    @property
    def watched(self) -> list[uuid.UUID]:
        return list(self._subscribers)

    def subscribe(self, prediction_id: uuid.UUID) -> Subscription:
        """Subscribe before reading the initial state, so that no later change is missed."""
        subscription = Subscription(self, prediction_id)
        self._subscribers.setdefault(prediction_id, set()).add(subscription)
        # The newcomer's initial state may be newer than the last delivered one: deliver the
        # next read, even if it equals that.
        self._delivered.pop(prediction_id, None)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.prediction_id)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._subscribers[subscription.prediction_id]
            self._delivered.pop(subscription.prediction_id, None)

    def changed(self, prediction_ids: Iterable[uuid.UUID]) -> None:
        watched = {pid for pid in prediction_ids if pid in self._subscribers}
        if watched:
            self._dirty |= watched
            self._wake.set()

    def resync(self) -> None:
        self.changed(self.watched)

    async def _deliver_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = list(self._dirty), set()
            try:
                await self._deliver(dirty)
            except Exception:  # the database is away: deliver these at the next change
                log.exception("reading job states for %d predictions failed", len(dirty))
                self._dirty |= set(dirty)
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _deliver(self, prediction_ids: list[uuid.UUID]) -> None:
        states = await to_thread.run_sync(read_jobs, self._sessions, prediction_ids)
        for pid, jobs in states.items():
            subscribers = self._subscribers.get(pid)
            if not subscribers or self._delivered.get(pid) == jobs:
                continue
            self._delivered[pid] = jobs
            for subscription in list(subscribers):
                subscription.offer(jobs)
