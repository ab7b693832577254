"""Replays as leased work (:mod:`shared.db.leases`), moving like jobs: ``queued -> running ->
succeeded | failed``. Success records the outcome; each final status commits with its
``replay`` audit record, whose sequence number the row keeps (``audit_seq``)."""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.db import leases
from shared.db.models import Replay

REPLAYS = leases.LeasedTable(Replay, queued_at="created_at", error="error")


def set_audit_seq(session: Session, *, replay_id: uuid.UUID, seq: int) -> None:
    session.execute(update(Replay).where(Replay.id == replay_id).values(audit_seq=seq))


def mark_unpublished(session: Session, replay_ids: list[uuid.UUID]) -> None:
    """A publish the API recorded with the replay failed: the reconciler's next pass sends it."""
    leases.mark_unpublished(session, REPLAYS, replay_ids)
