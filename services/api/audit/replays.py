"""Replays for auditors: record the request, publish it by task name after the commit, read it.

The API only records and publishes: the worker recomputes the explanation (the API has no
torch) and writes the outcome, the final status and its ``replay`` audit record together.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session, sessionmaker

from shared.db import jobs, repository
from shared.db.models import JobStatus, Replay
from shared.errors import Conflict, NotFound
from shared.queue import Publisher


class NotArchived(Conflict):
    """The explanation has no archived result (yet) to replay."""

    title = "Nothing archived to replay"


def request_replay(
    *,
    sessions: sessionmaker[Session],
    publisher: Publisher,
    explanation_id: uuid.UUID,
    requested_by: str,
    purpose: str,
) -> Replay:
    """Record a queued replay of an archived explanation, commit, then publish it (a failed
    publish leaves it to the reconciler). 404: unknown explanation; 409: nothing archived."""
    with sessions() as session:
        job = repository.get_job(session, explanation_id)
        if job is None:
            raise NotFound(f"no explanation {explanation_id}")
        if job.result is None:
            raise NotArchived(
                f"explanation {explanation_id} is {job.status}: it has no archived result to replay"
            )
        replay = Replay(
            id=uuid.uuid4(),
            job=job,
            status=JobStatus.queued,
            requested_by=requested_by,
            purpose=purpose,
            published_at=jobs.now(),
            attempts=0,
        )
        session.add(replay)
        session.commit()
    publisher.publish_replays_committed([replay.id], sessions=sessions)
    return replay


def get_replay(session: Session, replay_id: uuid.UUID) -> Replay:
    replay = session.get(Replay, replay_id)
    if replay is None:
        raise NotFound(f"no replay {replay_id}")
    return replay
