"""What prediction and explanation records bind, and that they commit with their rows."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.db.models import AuditPayload, AuditRecord, Blob, Prediction
from shared.hashing import sha256_hex
from tests.integration.audit import builders
from tests.support.audit_payloads import replay_payload


def _records(session: Session) -> list[tuple[AuditRecord, dict]]:
    rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
    payloads = [audit.read_typed(session, r.seq) for r in rows]
    return [(r, p.model_dump(mode="json")) for r, p in zip(rows, payloads, strict=True) if p]


def test_prediction_and_explanation_records_bind_the_decision(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(7)
    with sessions.begin() as session:
        prediction = builders.decision(session, rng, methods=("gradcam", "saliency"))
    with sessions() as session:
        stored = session.get(Prediction, prediction.id)
        assert stored is not None
        records = _records(session)
        report = audit.verify(session)
        results = {job.method: job.result for job in stored.jobs}
    assert [r.kind for r, _ in records] == ["prediction", "explanation", "explanation"]
    assert {r.subject_id for r, _ in records} == {str(prediction.id)}
    _, first = records[0]
    assert first["model"]["sha256"] == stored.model_sha256
    assert first["input"]["sha256"] == stored.input_sha256
    assert first["input"]["tensor_sha256"] == stored.tensor_sha256
    assert first["outputs"]["probabilities"] == stored.probabilities
    assert first["requested_by"] == stored.requested_by
    assert [(e["method"], e["seed"]) for e in first["explanations"]] == sorted(
        (j.method, j.seed) for j in stored.jobs
    )
    for _, payload in records[1:]:
        result = results[payload["method"]]
        assert result is not None
        assert payload["attributions"]["sha256"] == result.attributions_sha256
        assert payload["rendering"]["sha256"] == result.rendering_sha256
        assert payload["quality"] == result.quality
        assert payload["quality"]["parity_max_abs_diff"] == 3.1e-7
        assert payload["library_versions"] == result.library_versions
        assert payload["model_sha256"] == stored.model_sha256
        assert payload["device"] == "cpu"
        assert payload["times"]["archived_at"] == audit.chain.iso(result.created_at)
        assert set(payload["blobs"]) == {"input", "attributions", "rendering"}
    # 5 distinct blobs: one input, two attributions, two renderings
    assert report.ok and report.checked == 3 and report.blobs_checked == 5


def test_a_rolled_back_transaction_leaves_no_record_and_no_gap(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(8)
    with sessions() as session:
        builders.decision(session, rng)
        assert audit.take_checkpoint(session).seq == 2
        session.rollback()
    with sessions.begin() as session:
        record = audit.append(
            session, kind="replay", subject_id="x", payload=replay_payload({"n": 1})
        )
    assert record.seq == 1 and record.prev_hash == audit.GENESIS_HASH
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditPayload)) == 1
        assert audit.verify(session).ok


@pytest.mark.parametrize(
    "outcome", [{"ig_delta": float("nan")}, [float("-inf")], {"big": 2**53}, float("inf")]
)
def test_payloads_json_cannot_hold_exactly_are_refused_and_nothing_is_written(
    sessions: sessionmaker[Session], outcome: object
) -> None:
    with sessions() as session:
        with pytest.raises(audit.PayloadError):
            audit.append(session, kind="replay", subject_id="s", payload=replay_payload(outcome))
        session.commit()
    with sessions() as session:
        assert audit.take_checkpoint(session).seq == 0
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 0


def test_stored_payload_is_the_rfc8785_canonical_bytes(sessions: sessionmaker[Session]) -> None:
    outcome = {"b": [1, 2.5, 0.1, 1e-07, -0.0, 1.0, 1e21], "a": "é", "c": None}
    payload = replay_payload(outcome)
    with sessions.begin() as session:
        record = audit.append(session, kind="replay", subject_id="x", payload=payload)
    with sessions() as session:
        stored = session.get(AuditPayload, record.seq)
    assert stored is not None
    assert '"outcome":{"a":"é","b":[1,2.5,0.1,1e-7,0,1,1e+21],"c":null}'.encode() in stored.payload
    assert stored.payload.startswith(b'{"attempt":1,"error":null,"explanation_id":"e",')
    assert b'"format":"replay/2"' in stored.payload
    assert record.payload_sha256 == sha256_hex(stored.payload)
    assert json.loads(stored.payload)["outcome"] == outcome


def test_verify_a_range_and_report_the_first_bad_seq_inside_it(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        builders.chain(session, random.Random(9), records=12)
    with sessions() as session:
        head = audit.take_checkpoint(session).seq
        middle = audit.verify(session, start=4, end=9)
        seq, payload = next(
            (r.seq, p) for r, p in _records(session) if r.seq >= 4 and p.get("blobs")
        )
    assert (middle.ok, middle.checked, middle.head_seq) == (True, 6, 9)
    digest = next(iter(payload["blobs"].values()))
    with sessions.begin() as session:  # blobs are not insert-only: a changed one is detected
        stored = session.get(Blob, digest)
        assert stored is not None
        stored.data = stored.data + b"!"
    with sessions() as session:
        bad = audit.verify(session, start=seq)
        without_blobs = audit.verify(session, check_blobs=False)
    assert (bad.ok, bad.first_bad_seq) == (False, seq) and "blob" in (bad.reason or "")
    assert without_blobs.ok and without_blobs.checked == head


def test_an_edited_row_no_longer_matches_its_record(sessions: sessionmaker[Session]) -> None:
    rng = random.Random(10)
    with sessions.begin() as session:
        first = builders.decision(session, rng)
        second = builders.decision(session, rng, methods=("gradcam",))
    with sessions.begin() as session:
        job = session.get(Prediction, second.id).jobs[0]  # type: ignore[union-attr]
        assert job.result is not None
        job.result.quality = {**job.result.quality, "ig_delta": 0.0}
    with sessions() as session:
        report = audit.verify(session)
        unchecked = audit.verify(session, check_rows=False)
    assert unchecked.ok  # the chain itself is intact: only the row lies
    assert (report.ok, report.first_bad_seq) == (False, 4)  # the second decision's explanation
    assert report.reason == "the explanation's rows no longer match the record (explanation/3)"
    with sessions.begin() as session:
        stored = session.get(Prediction, first.id)
        assert stored is not None
        stored.probabilities = {**stored.probabilities, "normal": 0.0}
    with sessions() as session:
        report = audit.verify(session)
    assert (report.ok, report.first_bad_seq) == (False, 1)
    assert report.reason == "the prediction's rows no longer match the record (prediction/3)"
