"""Records written by an earlier release still verify: the 0.1.0 golden archive
(``tests/golden``, written by the 0.1.0 code in a worktree of that commit) restored into a
database at the 0.1.0 schema and upgraded to head, on Postgres and SQLite; new records appended
after it; tampering inside the old records still found and named; and a v1 builder edited in
place makes the archive fail."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.audit import formats
from shared.audit.admissions import record_admission
from shared.audit.chain import record_hash
from shared.audit.formats import v1_fields
from shared.audit.replays import payload_for_replay, record_replay
from shared.auth import Principal, create_token, revoke
from shared.bundles.admission import Admission, AdmissionReport
from shared.bundles.registry import load_bundle
from shared.db.models import AuditRecord, Prediction, Replay, Role
from shared.hashing import sha256_hex
from shared.versions import release
from tests.golden import archive
from tests.integration.audit import builders
from tests.integration.audit.conftest import Restore

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ARCHIVE = GOLDEN / "archive-0.1.0.jsonl"
CHECKPOINT = GOLDEN / "checkpoint-0.1.0.json"
V1_FORMATS = {
    "access/1": 3,
    "explanation/1": 3,
    "feedback/1": 2,
    "hold/1": 3,
    "prediction/1": 2,
    "purge/1": 1,
    "replay/1": 1,
    "token/1": 5,
}
Rows = list[tuple[str, dict[str, Any]]]


def _header() -> dict[str, Any]:
    return archive.read(ARCHIVE)[0]


def _seqs(rows: Rows, kind: str) -> list[int]:
    return [r["seq"] for table, r in rows if table == "audit_records" and r["kind"] == kind]


def _payload_row(rows: Rows, seq: int) -> dict[str, Any]:
    return next(r for table, r in rows if table == "audit_payloads" and r["seq"] == seq)


def _restore_altered(restore: Restore, rows: Rows, tmp_path: Path) -> sessionmaker[Session]:
    path = tmp_path / "altered.jsonl"
    archive.write(path, _header(), rows)
    return restore(path)


@pytest.fixture
def golden(restore: Restore) -> sessionmaker[Session]:
    return restore(ARCHIVE)


def test_the_archive_is_what_0_1_0_wrote() -> None:
    header, rows = archive.read(ARCHIVE)
    assert (header["release"], header["alembic"]) == ("0.1.0", "0003")
    payloads = [r["payload"] for table, r in rows if table == "audit_payloads"]
    assert all("format" not in json.loads(p) for p in payloads), "0.1.0 wrote no format key"
    kinds = {r["kind"] for table, r in rows if table == "audit_records"}
    assert kinds == {f.split("/")[0] for f in V1_FORMATS}
    assert ARCHIVE.stat().st_size < 300_000


def test_the_0_1_0_archive_verifies_every_record_and_its_rows(
    golden: sessionmaker[Session],
) -> None:
    _, rows = archive.read(ARCHIVE)
    blobs = sum(1 for table, _ in rows if table == "blobs")
    checkpoint = audit.load_checkpoint(CHECKPOINT)
    with golden() as session:
        report = audit.verify(session, checkpoint=checkpoint)
    assert report.ok, report
    assert report.checked == report.head_seq == checkpoint.seq == 22
    assert report.head_hash == checkpoint.hash
    assert report.formats == V1_FORMATS  # 20 payloads; 2 tombstoned by the purge
    assert report.rows_checked == 2 + 3 + 2 + 5  # predictions, explanations, feedback, tokens
    assert report.blobs_checked == blobs == 8  # 2 inputs, 3 attributions, 3 renderings


def test_the_report_of_a_0_1_0_decision_renders(
    golden: sessionmaker[Session], bundles_dir: Path
) -> None:
    from services.api.audit.reports import decision_report, decision_report_pdf
    from shared.bundles.registry import Registry

    registry = Registry.scan(bundles_dir)
    image = uuid.UUID(_header()["decisions"]["image"])
    with golden() as session:
        report = decision_report(session, registry, image)
        pdf = decision_report_pdf(session, registry, image)
        prediction = session.get(Prediction, image)
        assert prediction is not None
    chain = report["chain"]["records"]
    assert [r["kind"] for r in chain] == [
        "prediction", "explanation", "explanation", "feedback", "access", "replay", "hold",
    ]  # fmt: skip
    assert all(r["hash_ok"] for r in chain)
    assert [r["format"] for r in chain] == [
        "prediction/1", "explanation/1", "explanation/1", "feedback/1", "access/1", "replay/1",
        "hold/1",
    ]  # fmt: skip
    assert report["prediction"]["label"] == prediction.label
    assert {e["method"] for e in report["explanations"]} == {"gradcam", "integrated_gradients"}
    assert all(e["result"]["quality_readings"] for e in report["explanations"])
    assert report["feedback"][0]["decision"] == "override"
    assert pdf.startswith(b"%PDF-") and len(pdf) > 2000


def _append_new_records(session: Session, bundles_dir: Path) -> None:
    """One record of every kind, written by this release after the 0.1.0 records."""
    rng = random.Random(11)
    at = datetime.now(UTC)
    token_id, _ = create_token(session, role=Role.clinician, name="dr-new", now=at)
    clinician = Principal(token_id=token_id, role=Role.clinician, name="dr-new")
    fresh = builders.decision(session, rng, at=at, methods=("integrated_gradients",))
    audit.record_feedback(session, prediction=fresh, principal=clinician, decision="accept")
    audit.log_access(
        session,
        principal=clinician,
        action="GET /v1/audit/records",
        purpose="upgrade check",
        query={"model": "tiny-cnn"},
    )
    old = session.scalars(select(Replay)).one()
    payload = payload_for_replay(
        old,
        old.job,
        model_sha256=old.job.prediction.model_sha256,
        attempt=2,
        finished_at=at,
        outcome={"agreement": 1.0},
        error=None,
    )
    record_replay(session, payload=payload, now=at)
    audit.place_hold(session, reason="keep it", placed_by="dpo", prediction_id=fresh.id)
    tabular = uuid.UUID(_header()["decisions"]["tabular"])
    hold = audit.place_hold(session, reason="brief", placed_by="dpo", prediction_id=tabular)
    audit.release_hold(session, hold.id, released_by="dpo")
    revoke(session, token_id)
    bundle = load_bundle(bundles_dir / "tiny-cnn" / "v1")
    report = AdmissionReport(bundle=str(bundle.path), sha256=bundle.sha256, passed=True, steps=())
    admission = Admission.parse(report.model_dump_json().encode())
    record_admission(session, dataclasses.replace(bundle, admission=admission))


def test_new_records_after_the_0_1_0_ones_verify_together(
    golden: sessionmaker[Session], bundles_dir: Path
) -> None:
    with golden.begin() as session:
        _append_new_records(session, bundles_dir)
    with golden.begin() as session:  # a purge by this release tombstones 0.1.0 records too
        purged = audit.purge(
            session, now=datetime.now(UTC) + timedelta(days=400), retention_days=183, floor_days=183
        )
    tabular = uuid.UUID(_header()["decisions"]["tabular"])
    assert tabular in purged.predictions  # the image decision is under a 0.1.0 hold
    with golden() as session:
        report = audit.verify(session, checkpoint=audit.load_checkpoint(CHECKPOINT))
        new = session.scalars(select(AuditRecord).where(AuditRecord.seq > 22)).all()
        written = [audit.read_typed(session, r.seq) for r in new]
    assert report.ok, report
    assert report.checked == report.head_seq == 22 + len(new)
    current = {model.format_name() for model in formats.CURRENT.values()}
    new_formats = {k: n for k, n in report.formats.items() if k in current}
    assert set(new_formats) == current
    assert report.formats["prediction/1"] == 1  # the tabular prediction's payload was purged
    running = release()
    for payload in written:  # none tombstoned: the new decision is on hold
        assert payload is not None and isinstance(payload, formats.CURRENT[payload.KIND])
        assert payload.model_dump()["release"] == {
            "version": running.version,
            "commit": running.commit,
        }


def _rehash_from(rows: Rows, seq: int) -> None:
    """Recompute payload_sha256 at ``seq`` and every hash from there: a consistent rewrite."""
    records = sorted((r for t, r in rows if t == "audit_records"), key=lambda r: r["seq"])
    prev = next((r["hash"] for r in records if r["seq"] == seq - 1), "0" * 64)
    for record in records:
        if record["seq"] < seq:
            continue
        if record["seq"] == seq:
            record["payload_sha256"] = sha256_hex(_payload_row(rows, seq)["payload"])
        record["prev_hash"] = prev
        fields = {k: record[k] for k in ("seq", "kind", "subject_id", "created_at")}
        record["hash"] = prev = record_hash(
            **fields, payload_sha256=record["payload_sha256"], prev_hash=prev
        )


def _flip_a_payload_byte(rows: Rows) -> tuple[int, str]:
    seq = _seqs(rows, "explanation")[0]
    row = _payload_row(rows, seq)
    row["payload"] = row["payload"].replace(b'"quality":{', b'"quality":{"x":1,', 1)
    return seq, "payload does not match payload_sha256"


def _edit_a_row(rows: Rows) -> tuple[int, str]:
    prediction = next(r for t, r in rows if t == "predictions")
    prediction["probability"] = 1.0 - prediction["probability"]
    seq = next(
        r["seq"]
        for t, r in rows
        if t == "audit_records" and r["subject_id"] == str(prediction["id"])
    )
    return seq, "the prediction's rows no longer match the record (prediction/1)"


def _rename_a_token(rows: Rows) -> tuple[int, str]:
    token = next(r for t, r in rows if t == "api_tokens")
    token["name"] = "someone else"
    seq = next(
        r["seq"]
        for t, r in rows
        if t == "audit_records" and r["subject_id"] == f"token:{token['id']}"
    )
    return seq, "the token's role or name no longer matches its record"


def _reencode_as_rfc8785(rows: Rows) -> tuple[int, str]:
    """Re-encode an old record in the new canonical form and re-link the chain."""
    seq = _seqs(rows, "explanation")[0]
    row = _payload_row(rows, seq)
    reencoded = rfc8785.dumps(json.loads(row["payload"]))
    assert reencoded != row["payload"]  # its floats read differently in the two forms
    row["payload"] = reencoded
    _rehash_from(rows, seq)
    return seq, "payload is not canonical JSON (explanation/1: python-json/1)"


def _claim_a_newer_format(rows: Rows) -> tuple[int, str]:
    seq = _seqs(rows, "prediction")[0]
    row = _payload_row(rows, seq)
    value = json.loads(row["payload"])
    row["payload"] = rfc8785.dumps({**value, "format": "prediction/2"})
    _rehash_from(rows, seq)
    return seq, "not a valid prediction/2 payload: release: Field required"


@pytest.mark.parametrize(
    "tamper",
    [
        _flip_a_payload_byte,
        _edit_a_row,
        _rename_a_token,
        _reencode_as_rfc8785,
        _claim_a_newer_format,
    ],
)
def test_tampering_inside_a_0_1_0_record_is_found_and_named(
    restore: Restore, tmp_path: Path, tamper: Callable[[Rows], tuple[int, str]]
) -> None:
    _, rows = archive.read(ARCHIVE)
    seq, reason = tamper(rows)
    sessions = _restore_altered(restore, rows, tmp_path)
    with sessions() as session:
        report = audit.verify(session)
    assert (report.ok, report.first_bad_seq) == (False, seq), report
    assert report.reason is not None and report.reason.startswith(reason), report.reason


def _add_a_field(monkeypatch: pytest.MonkeyPatch) -> str:
    original = v1_fields.prediction_fields
    monkeypatch.setattr(v1_fields, "prediction_fields", lambda *a: {**original(*a), "site": None})
    return "prediction"


def _rename_a_field(monkeypatch: pytest.MonkeyPatch) -> str:
    original = v1_fields.feedback_fields

    def renamed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        fields = original(*args, **kwargs)
        fields["decided_at"] = fields.pop("at")
        return fields

    monkeypatch.setattr(v1_fields, "feedback_fields", renamed)
    return "feedback"


def _round_a_float(monkeypatch: pytest.MonkeyPatch) -> str:
    original = v1_fields.explanation_fields

    def rounded(*args: Any, **kwargs: Any) -> dict[str, Any]:
        fields = original(*args, **kwargs)
        return {**fields, "compute_ms": round(fields["compute_ms"], 3)}

    monkeypatch.setattr(v1_fields, "explanation_fields", rounded)
    return "explanation"


@pytest.mark.parametrize("edit", [_add_a_field, _rename_a_field, _round_a_float])
def test_editing_a_v1_builder_in_place_makes_the_archive_fail(
    golden: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[pytest.MonkeyPatch], str],
) -> None:
    """Someone 'improves' a v1 builder instead of adding a version: the old records fail."""
    _, rows = archive.read(ARCHIVE)
    kind = edit(monkeypatch)
    with golden() as session:
        report = audit.verify(session)
    assert (report.ok, report.first_bad_seq) == (False, _seqs(rows, kind)[0]), report
    assert report.reason is not None
    assert report.reason.startswith(f"the {kind}'s rows no longer match the record"), report.reason


def test_the_golden_payloads_round_trip_through_their_models() -> None:
    _, rows = archive.read(ARCHIVE)
    kinds = {r["seq"]: r["kind"] for t, r in rows if t == "audit_records"}
    for table, row in rows:
        if table == "audit_payloads":
            parsed = formats.check(kinds[row["seq"]], row["payload"])
            assert parsed.VERSION == 1 and parsed.canonical() == row["payload"]
            assert base64.b64encode(row["payload"])  # bytes, as stored
