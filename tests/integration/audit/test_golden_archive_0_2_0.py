"""Records written by 0.2.0 still verify: its golden archive (``tests/golden``, written by the
0.2.0 code, commit ade4c62, in a worktree: ``tests/golden/write_archive.py``) restored at
0.2.0's schema and upgraded to head, on Postgres and SQLite. Every record is in a version-2
format; this release writes predictions and explanations in version 3, so the verifier must
rebuild the old ones by version 2, and both kinds of record verify in one chain."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.audit import formats
from shared.db.models import AuditRecord, Prediction
from tests.golden import archive
from tests.integration.audit import builders
from tests.integration.audit.conftest import Restore

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ARCHIVE = GOLDEN / "archive-0.2.0.jsonl"
CHECKPOINT = GOLDEN / "checkpoint-0.2.0.json"
AFTER_0_2_0 = {"admission"}  # kinds first written by a later release


def _kinds() -> Counter[str]:
    _, rows = archive.read(ARCHIVE)
    return Counter(r["kind"] for table, r in rows if table == "audit_records")


@pytest.fixture
def golden(restore: Restore) -> sessionmaker[Session]:
    return restore(ARCHIVE)


def test_the_archive_is_what_0_2_0_wrote() -> None:
    header, rows = archive.read(ARCHIVE)
    assert (header["release"], header["alembic"]) == ("0.2.0", "0006")
    payloads = [json.loads(r["payload"]) for table, r in rows if table == "audit_payloads"]
    assert payloads and all(p["format"].endswith("/2") for p in payloads)
    assert {p["release"]["version"] for p in payloads} == {"0.2.0"}
    assert set(_kinds()) == set(formats.KINDS) - AFTER_0_2_0


def test_the_0_2_0_archive_verifies_every_record_and_its_rows(
    golden: sessionmaker[Session],
) -> None:
    checkpoint = audit.load_checkpoint(CHECKPOINT)
    with golden() as session:
        report = audit.verify(session, checkpoint=checkpoint)
    assert report.ok, report
    assert report.checked == report.head_seq == checkpoint.seq
    assert report.head_hash == checkpoint.hash
    assert set(report.formats) == {f"{kind}/2" for kind in _kinds()}
    assert report.rows_checked > 0 and report.blobs_checked > 0


def test_new_version_3_decisions_after_the_0_2_0_ones_verify_together(
    golden: sessionmaker[Session],
) -> None:
    with golden.begin() as session:
        fresh = builders.decision(session, random.Random(5), methods=("integrated_gradients",))
    with golden() as session:
        report = audit.verify(session, checkpoint=audit.load_checkpoint(CHECKPOINT))
        new = session.scalars(select(AuditRecord).where(AuditRecord.subject_id == str(fresh.id)))
        written = {audit.read_typed(session, r.seq).format_name() for r in new}
    assert report.ok, report
    assert written == {"prediction/3", "explanation/3"}
    assert report.formats["prediction/3"] == 1 and report.formats["prediction/2"] >= 1


def test_an_edited_0_2_0_prediction_row_is_named_by_its_own_version(
    golden: sessionmaker[Session],
) -> None:
    image = uuid.UUID(archive.read(ARCHIVE)[0]["decisions"]["image"])
    with golden.begin() as session:
        stored = session.get(Prediction, image)
        assert stored is not None
        stored.probabilities = {label: 0.5 for label in stored.probabilities}
    with golden() as session:
        report = audit.verify(session)
    assert not report.ok
    assert report.reason == "the prediction's rows no longer match the record (prediction/2)"
