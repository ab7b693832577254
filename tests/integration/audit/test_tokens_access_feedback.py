"""Tokens (hashed, revocable), the access log of auditor reads, and clinician feedback: each
is stored and appears in the chain."""

from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.audit.formats.v2 import AccessV2, FeedbackV2
from shared.auth import authenticate, create_token, revoke, token_digest
from shared.db.models import AccessLogEntry, ApiToken, AuditRecord, ClinicianFeedback, Role
from tests.integration.audit import builders


def test_tokens_are_stored_hashed_authenticate_and_revoke(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        token_id, plaintext = create_token(session, role=Role.auditor, name="auditor-1")
    with sessions() as session:
        stored = session.get(ApiToken, token_id)
        principal = authenticate(session, plaintext)
        assert stored is not None
        assert stored.token_sha256 == token_digest(plaintext) and plaintext not in repr(
            [getattr(stored, c.key) for c in ApiToken.__table__.columns]
        )
        assert principal is not None and (principal.role, principal.name) == (
            Role.auditor,
            "auditor-1",
        )
        for wrong in (None, "", plaintext[:-1], plaintext + "x", "Bearer " + plaintext):
            assert authenticate(session, wrong) is None
    with sessions.begin() as session:
        assert revoke(session, token_id) is True
        assert revoke(session, token_id) is False
    with sessions() as session:
        assert authenticate(session, plaintext) is None
        kinds = session.scalars(select(AuditRecord.kind).order_by(AuditRecord.seq)).all()
        assert kinds == ["token", "token"]  # created, revoked; the second revoke is a no-op
        with pytest.raises(LookupError):
            revoke(session, uuid.UUID(int=1))


def test_every_auditor_read_is_logged_and_chained(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        auditor = builders.principal(session, Role.auditor, "auditor-1")
        entry = audit.log_access(
            session,
            principal=auditor,
            action="GET /v1/audit/records/{id}",
            subject_id="4f1c",
            purpose="  complaint 2026-17  ",
        )
    with sessions() as session:
        stored = session.get(AccessLogEntry, entry.id)
        assert stored is not None and stored.purpose == "complaint 2026-17"
        payload = audit.read_typed(session, stored.audit_seq)
        assert isinstance(payload, AccessV2)
        assert (payload.token_id, payload.purpose, payload.subject_id) == (
            str(auditor.token_id),
            "complaint 2026-17",
            "4f1c",
        )
        with pytest.raises(audit.AccessError, match="purpose"):
            audit.log_access(session, principal=auditor, action="GET /x", purpose="  ")
        assert audit.verify(session).ok


def test_feedback_is_validated_stored_and_joins_the_decision_trail(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(3)
    with sessions.begin() as session:
        clinician = builders.principal(session)
        prediction = builders.decision(session, rng, methods=())
        other = "normal" if prediction.label == "pneumonia" else "pneumonia"
        accepted = audit.record_feedback(
            session, prediction=prediction, principal=clinician, decision="accept"
        )
        overridden = audit.record_feedback(
            session,
            prediction=prediction,
            principal=clinician,
            decision="override",
            corrected_label=other,
            reason="marker artefact, lungs clear",
        )
        bad = [
            ({"decision": "maybe"}, "decision"),
            ({"decision": "override", "corrected_label": other}, "reason"),
            ({"decision": "override", "corrected_label": "cat", "reason": "r"}, "corrected_label"),
            (
                {"decision": "override", "corrected_label": prediction.label, "reason": "r"},
                "corrected_label",
            ),
            ({"decision": "accept", "corrected_label": other}, "corrected_label"),
            ({"decision": "accept", "reason": "x" * 2001}, "reason"),
        ]
        for kwargs, field in bad:
            with pytest.raises(audit.FeedbackError) as caught:
                audit.record_feedback(session, prediction=prediction, principal=clinician, **kwargs)
            assert caught.value.field_name == field
    with sessions() as session:
        rows = session.scalars(
            select(ClinicianFeedback).order_by(ClinicianFeedback.audit_seq)
        ).all()
        trail = session.scalars(
            select(AuditRecord.kind).where(AuditRecord.subject_id == str(prediction.id))
        ).all()
        payload = audit.read_typed(session, overridden.audit_seq)
        assert audit.verify(session).ok
    assert [r.id for r in rows] == [accepted.id, overridden.id]
    assert sorted(trail) == ["feedback", "feedback", "prediction"]
    assert isinstance(payload, FeedbackV2)
    assert (payload.decision, payload.corrected_label, payload.predicted_label) == (
        "override",
        other,
        prediction.label,
    )
