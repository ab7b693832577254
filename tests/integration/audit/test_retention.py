"""Retention with a frozen clock: the purge forgets old decisions (rows, blobs, record payloads),
never touches anything younger than the floor, on hold or unfinished, and the chain — and a
checkpoint taken before the purge — still verifies."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.audit.formats.v2 import PurgeV2
from shared.db.models import AuditPayload, AuditRecord, Blob, Prediction
from shared.retention import check_policy
from tests.integration.audit import builders

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
CASE = "c" * 64


def _ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def _decision_seqs(session: Session, prediction: Prediction) -> list[int]:
    return list(
        session.scalars(
            select(AuditRecord.seq).where(
                AuditRecord.subject_id == str(prediction.id),
                AuditRecord.kind.in_(["prediction", "explanation", "feedback"]),
            )
        )
    )


def _blobs(session: Session, prediction: Prediction) -> set[str]:
    digests = {prediction.input_sha256}
    for job in prediction.jobs:
        if job.result is not None:
            digests |= {job.result.attributions_sha256, job.result.rendering_sha256 or ""}
    return digests - {""}


def test_purge_forgets_old_decisions_and_keeps_the_chain_verifiable(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(11)
    shared_input = rng.randbytes(64)
    with sessions.begin() as session:
        auditor = builders.principal(session, name="auditor")
        clinician = builders.principal(session, name="dr-a")
        d = {
            "old": builders.decision(session, rng, at=_ago(400)),
            "old_shared": builders.decision(session, rng, at=_ago(401), input_bytes=shared_input),
            "released": builders.decision(session, rng, at=_ago(402)),
            "held": builders.decision(session, rng, at=_ago(403)),
            "case_held": builders.decision(session, rng, at=_ago(404), case_ref_hmac=CASE),
            "late_feedback": builders.decision(session, rng, at=_ago(405)),
            "unfinished": builders.decision(session, rng, at=_ago(406), finish=False),
            "past_floor": builders.decision(session, rng, at=_ago(200)),
            "young": builders.decision(session, rng, at=_ago(100), input_bytes=shared_input),
        }
        audit.place_hold(
            session, reason="litigation", placed_by="legal", prediction_id=d["held"].id, now=_ago(9)
        )
        audit.place_hold(
            session, reason="inquiry", placed_by="legal", case_ref_hmac=CASE, now=_ago(9)
        )
        hold = audit.place_hold(
            session, reason="done", placed_by="legal", prediction_id=d["released"].id, now=_ago(9)
        )
        audit.release_hold(session, hold.id, released_by="legal", now=_ago(5))
        audit.record_feedback(
            session,
            prediction=d["late_feedback"],
            principal=clinician,
            decision="accept",
            now=_ago(10),
        )
        access = audit.log_access(
            session,
            principal=auditor,
            action="GET /v1/audit/records/{id}",
            subject_id=str(d["old"].id),
            purpose="review",
            now=_ago(1),
        )
        before = audit.take_checkpoint(session, now=NOW)
        seqs = {name: _decision_seqs(session, p) for name, p in d.items()}
        blobs = {name: _blobs(session, p) for name, p in d.items()}

    with sessions.begin() as session:
        report = audit.purge(session, now=NOW, retention_days=365, floor_days=183)
    purged = {"old", "old_shared", "released"}
    assert set(report.predictions) == {d[name].id for name in purged}
    assert report.tombstoned == sum(len(seqs[name]) for name in purged)

    with sessions() as session:
        payloads = set(session.scalars(select(AuditPayload.seq)))
        remaining = set(session.scalars(select(Prediction.id)))
        stored_blobs = set(session.scalars(select(Blob.sha256)))
        purge_payload = audit.read_typed(session, report.record_seq or 0)
        assert audit.verify(session).ok
        assert audit.verify(session, checkpoint=before).ok
        assert audit.read_typed(session, access.audit_seq) is not None  # who read: kept
    for name, prediction in d.items():
        gone = name in purged
        assert (prediction.id in remaining) is not gone, name
        assert payloads.isdisjoint(seqs[name]) if gone else set(seqs[name]) <= payloads, name
    assert blobs["old"].isdisjoint(stored_blobs)
    assert blobs["old_shared"] & stored_blobs == {d["young"].input_sha256}  # shared: kept
    assert blobs["young"] <= stored_blobs and blobs["held"] <= stored_blobs
    assert purge_payload is not None
    assert isinstance(purge_payload, PurgeV2)
    assert purge_payload.predictions == sorted(str(d[name].id) for name in purged)
    assert purge_payload.cutoff == audit.chain.iso(_ago(365))

    with sessions.begin() as session:  # nothing left to purge: no new record
        again = audit.purge(session, now=NOW, retention_days=365, floor_days=183)
        assert again.predictions == [] and again.record_seq is None
        at_floor = audit.purge(session, now=NOW, retention_days=183, floor_days=183)
    assert at_floor.predictions == [d["past_floor"].id]  # 200 days; never the 100-day one

    with sessions.begin() as session:  # deleting a payload is allowed, but it is detected
        victim = seqs["young"][0]
        session.execute(AuditPayload.__table__.delete().where(AuditPayload.seq == victim))
    with sessions() as session:
        tampered = audit.verify(session)
    assert (tampered.ok, tampered.first_bad_seq) == (False, victim)
    assert "no purge record" in (tampered.reason or "")


@pytest.mark.parametrize(("retention", "floor"), [(182, 183), (200, 100), (300, 365), (100, 100)])
def test_retention_below_the_floor_is_refused(retention: int, floor: int) -> None:
    with pytest.raises(audit.RetentionError):
        check_policy(retention_days=retention, floor_days=floor)


def test_purge_refuses_a_policy_below_the_floor_before_touching_anything(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        with pytest.raises(audit.RetentionError):
            audit.purge(session, now=NOW, retention_days=30, floor_days=183)
        with pytest.raises(ValueError, match="UTC-aware"):
            audit.purge(session, now=NOW.replace(tzinfo=None), retention_days=365, floor_days=183)
