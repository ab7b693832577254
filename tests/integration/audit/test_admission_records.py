"""'Model admitted' records on Postgres and SQLite: one per model, manifest and report however
many API processes race to write it, checked by ``verify`` (its payload and its report's blob),
and a tampered one named by seq."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.audit.admissions import REPORT_BLOB, admission_of, admissions_of, record_admissions
from shared.audit.formats import canonical_value
from shared.bundles.registry import Registry
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import AuditPayload, AuditRecord
from tests.support.admitted import NAME

RACERS = 4


def _served(admitted_bundles: Path) -> Registry:
    registry = Registry.scan(admitted_bundles)
    assert [b.version for b in registry.all()] == ["v1", "v2"]
    return registry


def _admission_seqs(session: Session) -> list[int]:
    query = select(AuditRecord.seq).where(AuditRecord.kind == "admission")
    return list(session.scalars(query.order_by(AuditRecord.seq)))


def test_racing_api_processes_write_each_admission_once(
    audit_url: str, admitted_bundles: Path
) -> None:
    registry = _served(admitted_bundles)
    engines = [make_engine(audit_url) for _ in range(RACERS)]
    start = threading.Barrier(RACERS)
    written: list[int] = []
    errors: list[BaseException] = []

    def racer(index: int) -> None:
        try:
            start.wait()
            written.append(record_admissions(make_session_factory(engines[index]), registry.all()))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(written) == 2  # v1 and v2: the same bytes, two manifests and reports
    again = record_admissions(make_session_factory(engines[0]), registry.all())
    with make_session_factory(engines[0])() as session:
        seqs = _admission_seqs(session)
        records = {b.version: admission_of(session, b) for b in registry.all()}
        report = audit.verify(session)
    for engine in engines:
        engine.dispose()
    assert again == 0 and len(seqs) == 2
    assert {r.seq for r in records.values() if r} == set(seqs)
    v2 = records["v2"]
    assert v2 is not None and v2.report is not None
    assert v2.report == registry.get(NAME, "v2").admission.report  # type: ignore[union-attr]
    assert v2.payload.unavailable_methods["saliency"].startswith("quality over its bound")
    assert report.ok, report
    assert report.formats["admission/2"] == 2 and report.blobs_checked == 2


def _recorded(sessions: sessionmaker[Session], admitted_bundles: Path) -> tuple[int, str]:
    bundle = _served(admitted_bundles).get(NAME, "v2")
    assert record_admissions(sessions, [bundle]) == 1
    with sessions() as session:
        (record,) = admissions_of(session, bundle.sha256)
        assert audit.verify(session).ok
    return record.seq, record.payload.report_sha256


def test_a_changed_report_blob_is_named_by_verify(
    sessions: sessionmaker[Session], admitted_bundles: Path
) -> None:
    seq, digest = _recorded(sessions, admitted_bundles)
    with sessions.begin() as session:
        session.execute(
            text("UPDATE blobs SET data = :d WHERE sha256 = :s"),
            {"d": b'{"passed": true}', "s": digest},
        )
    with sessions() as session:
        report = audit.verify(session)
        (record,) = admissions_of(session, _served(admitted_bundles).get(NAME, "v2").sha256)
    assert not report.ok and report.first_bad_seq == seq
    assert report.reason == f"blob {REPORT_BLOB} ({digest}) bytes do not match its sha256"
    assert record.report is None  # what a report shows of it: nothing that no longer matches


def test_a_tampered_admission_payload_is_named_by_verify(
    audit_pg_url: str, admitted_bundles: Path
) -> None:
    """An attacker with the superuser marks saliency available in the record (canonical JSON,
    the format's layout kept): its payload no longer hashes to what the chain holds."""
    engine = make_engine(audit_pg_url)
    sessions = make_session_factory(engine)
    seq, _ = _recorded(sessions, admitted_bundles)
    with sessions.begin() as session:
        stored = audit.read_payload(session, seq)
        assert stored is not None
        stored["unavailable_methods"].pop("saliency")
        stored["available_methods"].append("saliency")
        forged = canonical_value("admission", stored)
        session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(
            text("UPDATE audit_payloads SET payload = :p WHERE seq = :s"), {"p": forged, "s": seq}
        )
    with sessions() as session:
        assert session.scalar(select(AuditPayload.payload).where(AuditPayload.seq == seq)) == forged
        report = audit.verify(session)
    engine.dispose()
    assert not report.ok and report.first_bad_seq == seq
    assert report.reason == "payload does not match payload_sha256"


@pytest.mark.parametrize("blobs", [{}, {REPORT_BLOB: "0" * 64}])
def test_an_admission_payload_names_its_report_as_its_only_blob(blobs: dict[str, str]) -> None:
    from shared.audit.formats import FormatError, check

    value = {
        "format": "admission/2",
        "release": {"version": "0.3.0", "commit": "c"},
        "model": {"name": "m", "version": "v", "sha256": "a" * 64},
        "manifest_sha256": "b" * 64,
        "report_sha256": "c" * 64,
        "passed": True,
        "admitted_at": None,
        "available_methods": ["saliency"],
        "unavailable_methods": {},
        "blobs": blobs,
    }
    with pytest.raises(FormatError, match="blobs must be exactly"):
        check("admission", canonical_value("admission", value))
    good = {**value, "blobs": {REPORT_BLOB: "c" * 64}}
    assert check("admission", canonical_value("admission", good)).KIND == "admission"
