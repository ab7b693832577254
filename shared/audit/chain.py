"""The hash chain: one record per audited event, each hash covering the previous one.

Record hash (format ``xai-audit/1``): the lowercase hex SHA-256 of the canonical JSON array

    ["xai-audit/1", seq, kind, subject_id, created_at, payload_sha256, prev_hash]

e.g. ``["xai-audit/1",1,"prediction","6f1c…","2026-01-02T03:04:05.000006+00:00","9b…","00…00"]``
where ``seq`` is a JSON integer, ``created_at`` is ``isoformat(timespec="microseconds")`` in UTC
(always 32 characters, ``+00:00``), ``payload_sha256`` is the hex SHA-256 of the stored payload
bytes (the canonical JSON of the payload's own format version, :mod:`shared.audit.formats`),
and ``prev_hash`` is the previous record's hash, or 64 zeros for seq 1. JSON string escaping
keeps the fields unambiguous whatever they contain. The record hash does not depend on the
payload's format version, so ``xai-audit/1`` covers records of every payload format.
The payload enters the hash only through its SHA-256, so retention can delete a payload
(a tombstone) and the chain still verifies.

Appends are serialised by the one-row ``audit_chain_head`` table: the first statement of an
append is ``UPDATE audit_chain_head SET seq = seq + 1 … RETURNING seq``, which holds the row lock
on Postgres, and the database write lock on SQLite, until the caller's transaction ends. The
counter rolls back with the transaction, so ``seq`` has no gaps. ``UNIQUE(prev_hash)`` is a
second guard: two records can never extend the same predecessor (no fork), whatever happens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from shared.db.models import AuditChainHead, AuditPayload, AuditRecord
from shared.hashing import canonical_json, sha256_hex

if TYPE_CHECKING:
    from shared.audit.formats import Payload

HASH_FORMAT = "xai-audit/1"
GENESIS_HASH = "0" * 64
MAX_KIND = 32
MAX_SUBJECT = 64


_HEAD, _RECORDS, _PAYLOADS = (
    cast(Table, AuditChainHead.__table__),
    cast(Table, AuditRecord.__table__),
    cast(Table, AuditPayload.__table__),
)
_NEXT_SEQ = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq)
_HASH_AT = select(_RECORDS.c.hash).where(_RECORDS.c.seq == bindparam("seq"))


class AuditChainError(RuntimeError):
    """The chain cannot be extended (its head row is missing or disagrees with the records)."""


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit times are UTC-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(
    *,
    seq: int,
    kind: str,
    subject_id: str,
    created_at: datetime,
    payload_sha256: str,
    prev_hash: str,
) -> str:
    fields = [HASH_FORMAT, seq, kind, subject_id, iso(created_at), payload_sha256, prev_hash]
    return sha256_hex(canonical_json(fields))


class RecordFields(Protocol):
    seq: int
    kind: str
    subject_id: str
    created_at: datetime
    payload_sha256: str
    prev_hash: str


def hash_of(record: RecordFields) -> str:
    """The hash a stored record (an ``AuditRecord`` or a row of its columns) should have."""
    return record_hash(
        seq=record.seq,
        kind=record.kind,
        subject_id=record.subject_id,
        created_at=record.created_at,
        payload_sha256=record.payload_sha256,
        prev_hash=record.prev_hash,
    )


def append(
    session: Session,
    *,
    kind: str,
    subject_id: str,
    payload: Payload,
    now: datetime | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction (the caller commits; a rollback leaves no
    trace and no gap). Call it late in the transaction: the chain stays locked until commit.
    The returned record is transient (not added to the session); its rows are written.
    On SQLite, pysqlite opens the transaction just before the UPDATE, so the write lock is
    taken before the previous hash is read. ``payload`` is a record format's model
    (:mod:`shared.audit.formats`) of this ``kind``; its canonical bytes are stored."""
    if not 0 < len(kind) <= MAX_KIND or not 0 < len(subject_id) <= MAX_SUBJECT:
        raise ValueError(f"kind (1..{MAX_KIND} chars) and subject_id (1..{MAX_SUBJECT}) required")
    if kind != payload.KIND:
        raise ValueError(f"a {payload.format_name()} payload cannot be a {kind} record")
    body = payload.canonical()
    connection = session.connection()  # plain Core: 4 statements, no unit-of-work flush
    seq = connection.execute(_NEXT_SEQ).scalar()
    if seq is None:
        raise AuditChainError("audit chain head row is missing; run `xai db upgrade`")
    prev_hash = GENESIS_HASH
    if seq > 1:
        stored = connection.execute(_HASH_AT, {"seq": seq - 1}).scalar()
        if stored is None:
            raise AuditChainError(f"chain head is at {seq - 1} but that record is missing")
        prev_hash = str(stored)
    fields = {
        "seq": seq,
        "created_at": now or datetime.now(UTC),
        "kind": kind,
        "subject_id": subject_id,
        "payload_sha256": sha256_hex(body),
        "prev_hash": prev_hash,
    }
    record = AuditRecord(**fields, hash=record_hash(**fields))
    connection.execute(insert(_RECORDS), {**fields, "hash": record.hash})
    connection.execute(insert(_PAYLOADS), {"seq": seq, "payload": body})
    return record


def read_payload(session: Session, seq: int) -> dict[str, Any] | None:
    """The record's payload as stored (parsed JSON, any format version), or None once
    retention has tombstoned it. :func:`read_typed` gives it as its format's model."""
    data = session.scalar(select(AuditPayload.payload).where(AuditPayload.seq == seq))
    return None if data is None else json.loads(data)


def read_typed(session: Session, seq: int) -> Payload | None:
    """The record's payload as the model of its own format version, or None once retention
    has tombstoned it (or no record has that seq)."""
    from shared.audit.formats import parse

    row = session.execute(
        select(AuditRecord.kind, AuditPayload.payload)
        .join(AuditPayload, AuditPayload.seq == AuditRecord.seq)
        .where(AuditRecord.seq == seq)
    ).first()
    return None if row is None else parse(row.kind, row.payload)


def read_formats(session: Session, seqs: Iterable[int]) -> dict[int, str]:
    """The record format (``"prediction/1"``) of each stored payload among ``seqs``; a
    tombstoned payload has none (its seq is left out)."""
    from shared.audit.formats import format_of

    rows = session.execute(
        select(AuditRecord.seq, AuditRecord.kind, AuditPayload.payload)
        .join(AuditPayload, AuditPayload.seq == AuditRecord.seq)
        .where(AuditRecord.seq.in_(list(seqs)))
    )
    return {seq: format_of(kind, data).format_name() for seq, kind, data in rows}
