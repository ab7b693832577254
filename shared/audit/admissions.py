""" "Model admitted" records: the admission report of every bundle the API serves, in the chain.

The API writes one ``admission`` record (:class:`~shared.audit.formats.v2.AdmissionV2`) per
model bytes, manifest bytes and admission report it serves — at start-up and on every reload,
before the bundle is served — with the report's ``admission.json`` bytes as a blob. The record's
subject is the model's SHA-256.

Writing is idempotent across restarts and across API processes: :func:`record_admission` first
takes the chain's lock (the ``audit_chain_head`` row: a row lock on Postgres, the write lock on
SQLite, held until the transaction ends), then looks for a record of the same triple, and
appends only if there is none. Two processes racing serialise on that lock, and the second sees
the first's committed record (each statement of a READ COMMITTED transaction reads what is
committed when it starts; SQLite's writer sees the newest commit once it holds the lock).
A bundle admitted again (``xai models validate`` rewrites its report) is recorded again: the new
report is new evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shared.audit.chain import append, iso
from shared.audit.formats import FormatError, parse
from shared.audit.formats.v1 import ModelRef
from shared.audit.formats.v2 import AdmissionV2
from shared.bundles.admission import REPORT_MEDIA_TYPE, Admission, AdmissionReport
from shared.bundles.registry import Bundle
from shared.db import repository
from shared.db.models import AuditChainHead, AuditPayload, AuditRecord
from shared.hashing import sha256_hex

log = logging.getLogger(__name__)
KIND = AdmissionV2.KIND
REPORT_BLOB = AdmissionV2.REPORT_BLOB


@dataclass(frozen=True)
class AdmissionRecord:
    """An admission record as read back, with the report its blob holds (None when the blob
    is missing or no longer matches its SHA-256: ``verify`` names that record)."""

    seq: int
    created_at: datetime
    payload: AdmissionV2
    report: AdmissionReport | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.payload.model.sha256, self.payload.manifest_sha256, self.payload.report_sha256)


def admission_payload(bundle: Bundle, admission: Admission) -> AdmissionV2:
    report = admission.report
    return AdmissionV2.new(
        model=ModelRef(name=bundle.name, version=bundle.version, sha256=bundle.sha256),
        manifest_sha256=bundle.manifest_sha256,
        report_sha256=admission.sha256,
        passed=report.passed,
        admitted_at=iso(report.admitted_at) if report.admitted_at else None,
        available_methods=list(report.available_methods),
        unavailable_methods=report.unavailable_methods,
        blobs={REPORT_BLOB: admission.sha256},
    )


def record_admission(session: Session, bundle: Bundle) -> tuple[int, bool]:
    """The seq of the bundle's admission record, appended in the caller's transaction unless
    one exists (``True`` when written). It takes the chain lock first, so the lookup sees every
    committed record; the lock is held until the caller commits (do so soon)."""
    admission = bundle.admission
    if admission is None:
        raise ValueError(f"{bundle.name}/{bundle.version} has no admission report")
    session.execute(
        update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=AuditChainHead.seq)
    )
    key = (bundle.sha256, bundle.manifest_sha256, admission.sha256)
    for found in admissions_of(session, bundle.sha256, with_reports=False):
        if found.key == key:
            return found.seq, False
    repository.put_blob(session, data=admission.data, media_type=REPORT_MEDIA_TYPE)
    record = append(
        session, kind=KIND, subject_id=bundle.sha256, payload=admission_payload(bundle, admission)
    )
    return record.seq, True


def record_admissions(sessions: sessionmaker[Session], bundles: Iterable[Bundle]) -> int:
    """Record every admitted bundle's admission, one transaction each; the number written."""
    written = 0
    for bundle in bundles:
        if bundle.admission is None:
            continue
        with sessions.begin() as session:
            seq, new = record_admission(session, bundle)
        if new:
            written += 1
            log.info("admission of %s/%s recorded (seq %d)", bundle.name, bundle.version, seq)
    return written


def admissions_of(
    session: Session, model_sha256: str, *, with_reports: bool = True
) -> list[AdmissionRecord]:
    """The admission records of a model's bytes, oldest first (tombstoned or unreadable
    payloads are left out: ``verify`` reports those)."""
    rows = session.execute(
        select(AuditRecord.seq, AuditRecord.created_at, AuditPayload.payload)
        .join(AuditPayload, AuditPayload.seq == AuditRecord.seq)
        .where(AuditRecord.kind == KIND, AuditRecord.subject_id == model_sha256)
        .order_by(AuditRecord.seq)
    ).all()
    found: list[AdmissionRecord] = []
    for seq, created_at, data in rows:
        try:
            payload = parse(KIND, data)
        except FormatError:
            continue
        if not isinstance(payload, AdmissionV2):
            continue
        report = _report(session, payload.report_sha256) if with_reports else None
        found.append(AdmissionRecord(seq, created_at, payload, report))
    return found


def admission_of(session: Session, bundle: Bundle) -> AdmissionRecord | None:
    """The record of the bundle as served now (its model, manifest and report bytes)."""
    if bundle.admission is None:
        return None
    key = (bundle.sha256, bundle.manifest_sha256, bundle.admission.sha256)
    return next((r for r in admissions_of(session, bundle.sha256) if r.key == key), None)


def admission_before(session: Session, model_sha256: str, at: datetime) -> AdmissionRecord | None:
    """The admission in force for a decision made at ``at``: the model's latest admission
    record written before it."""
    earlier = [r for r in admissions_of(session, model_sha256) if r.created_at <= at]
    return earlier[-1] if earlier else None


def _report(session: Session, sha256: str) -> AdmissionReport | None:
    blob = repository.get_blob(session, sha256)
    if blob is None or sha256_hex(blob.data) != sha256:
        return None
    try:
        return Admission.parse(blob.data).report
    except ValueError:
        return None
