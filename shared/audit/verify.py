"""Walk the chain (or a range of it) and report the first record that does not verify.

For each record, in ``seq`` order, in batches (never the whole table in memory):

1. ``seq`` is the next integer (no gap, no reordering);
2. ``prev_hash`` equals the previous record's stored hash (64 zeros before seq 1);
3. ``hash`` equals the hash recomputed from the fields (:func:`shared.audit.chain.record_hash`);
4. the payload, if present, hashes to ``payload_sha256``, and is a valid payload of the record
   format it states (:mod:`shared.audit.formats`; none stated: version 1), in exactly that
   version's canonical JSON; if absent, a later ``purge`` record must name the seq (a
   retention tombstone);
5. with ``check_blobs``: every blob the payload references (``"blobs": {role: sha256}``) exists
   and its bytes hash to that sha256 (input, attributions, rendering);
6. with ``check_rows``: the live rows of a decision (prediction, jobs, result, feedback) and of
   a token still rebuild the record's payload with the builder of the record's version
   (:mod:`shared.audit.rows`); after a whole-chain
   walk, every token row has a record. The depth stops there: the verifier does not re-run a
   model (that is replay's job), nor check rows no record names.

A range is a query, never evidence: ``end`` past the head is clamped to the head, ``start``
past it checks nothing, and the report names the range actually checked (``from_seq`` ..
``to_seq``; ``to_seq = from_seq - 1`` when empty). A tail cut off the chain looks like a shorter
chain either way; only a checkpoint reveals it. A range no chain can have (below 1, beyond a
64-bit sequence number, ``start > end``) is a :class:`RangeError`.

With a checkpoint (exported earlier, kept outside the database) it also requires that the
chain still reaches the checkpoint's seq (else: truncated) and that the record there has the
checkpoint's hash and count (else: rewritten — a consistent rewrite recomputes every hash, which
only an outside copy can expose). Without one, a truncated tail or a rewrite from scratch
looks like a valid, shorter or different chain: export checkpoints regularly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.audit import formats
from shared.audit.chain import GENESIS_HASH, hash_of
from shared.audit.formats.v1 import PurgeV1, TokenV1
from shared.audit.rows import TokenLedger, decision_mismatch
from shared.audit.tombstones import Tombstones
from shared.db.models import AuditPayload, AuditRecord, Blob
from shared.errors import FieldError, InvalidInput
from shared.hashing import sha256_hex

if TYPE_CHECKING:
    from shared.audit.checkpoint import Checkpoint

BATCH = 500
MAX_SEQ = 2**63 - 1
"""The largest sequence number a chain can hold (a signed 64-bit column)."""
_RECORD_COLUMNS = [
    AuditRecord.seq,
    AuditRecord.created_at,
    AuditRecord.kind,
    AuditRecord.subject_id,
    AuditRecord.payload_sha256,
    AuditRecord.prev_hash,
    AuditRecord.hash,
]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None  # None with ok=False: a row no record vouches for
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    blobs_checked: int = 0
    rows_checked: int = 0  # decision and token records whose live rows were compared
    formats: dict[str, int] = field(default_factory=dict)  # payloads read, by record format
    from_seq: int = 1  # the range actually checked (the request's, clamped to the head)
    to_seq: int = 0  # from_seq - 1: an empty range
    clamped: bool = False  # the request's end lay beyond the head

    @property
    def range(self) -> dict[str, int]:
        return {"from_seq": self.from_seq, "to_seq": self.to_seq}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RangeError(InvalidInput):
    """A verify range no chain can have; names the bound (``from_seq``, ``to_seq``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", errors=[FieldError(field=field, reason=reason)])


def check_range(start: int | None, end: int | None) -> None:
    """Refuse a range no chain can have (it would otherwise reach SQL or read as a gap)."""
    for name, value in (("from_seq", start), ("to_seq", end)):
        if value is not None and not 1 <= value <= MAX_SEQ:
            raise RangeError(name, f"must be between 1 and {MAX_SEQ}, got {value}")
    if start is not None and end is not None and start > end:
        raise RangeError("from_seq", f"must not exceed to_seq ({start} > {end})")


class _Bad(Exception):
    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq, self.reason = seq, reason


def verify(
    session: Session,
    *,
    start: int | None = None,
    end: int | None = None,
    checkpoint: Checkpoint | None = None,
    check_blobs: bool = True,
    check_rows: bool = True,
) -> VerifyReport:
    """Verify records ``start..end`` (default: the whole chain as it stands when called),
    ``end`` clamped to the head."""
    check_range(start, end)
    first = start or 1
    if checkpoint is not None and (
        first > max(checkpoint.seq, 1) or (end is not None and end < checkpoint.seq)
    ):
        raise ValueError(f"the range {first}..{end} does not cover checkpoint {checkpoint.seq}")
    head = session.scalar(select(func.max(AuditRecord.seq))) or 0
    last = head if end is None else min(end, head)
    last = max(last, first - 1)
    clamped = end is not None and end > head
    walk = _Walk(session, check_blobs=check_blobs, check_rows=check_rows)
    try:
        walk.tombstones = _tombstones(session)
        if first <= last:
            walk.prev_hash = _hash_before(session, first)
            walk.run(first, last)
        if check_rows and first == 1 and end is None:
            unrecorded = walk.tokens.unrecorded(session)
            if unrecorded:
                raise _Bad(None, unrecorded)
        if checkpoint is not None:
            _check_against(checkpoint, session, walk)
    except _Bad as bad:
        return VerifyReport(
            ok=False,
            checked=walk.checked,
            first_bad_seq=bad.seq,
            reason=bad.reason,
            head_seq=walk.seq,
            head_hash=walk.prev_hash,
            blobs_checked=walk.blobs_checked,
            rows_checked=walk.rows_checked,
            formats=dict(sorted(walk.formats.items())),
            from_seq=first,
            to_seq=last,
            clamped=clamped,
        )
    return VerifyReport(
        ok=True,
        checked=walk.checked,
        head_seq=walk.seq,
        head_hash=walk.prev_hash,
        blobs_checked=walk.blobs_checked,
        rows_checked=walk.rows_checked,
        formats=dict(sorted(walk.formats.items())),
        from_seq=first,
        to_seq=last,
        clamped=clamped,
    )


class _Walk:
    def __init__(self, session: Session, *, check_blobs: bool, check_rows: bool) -> None:
        self.session, self.check_blobs, self.check_rows = session, check_blobs, check_rows
        self.tokens = TokenLedger()
        self.tombstones = Tombstones()
        self.prev_hash = GENESIS_HASH
        self.seq = 0
        self.checked = 0
        self.blobs_checked = 0
        self.rows_checked = 0
        self.formats: Counter[str] = Counter()
        self._verified_blobs: set[str] = set()

    def run(self, first: int, last: int) -> None:
        expected = first
        while expected <= last:
            rows = self.session.execute(
                select(*_RECORD_COLUMNS, AuditPayload.payload)
                .outerjoin(AuditPayload, AuditPayload.seq == AuditRecord.seq)
                .where(AuditRecord.seq >= expected, AuditRecord.seq <= last)
                .order_by(AuditRecord.seq)
                .limit(BATCH)
            ).all()
            if not rows:
                raise _Bad(expected, f"record {expected} is missing (the chain ends early)")
            for row in rows:
                self._check(row, row.payload, expected)
                expected += 1

    def _check(self, record: Any, payload: bytes | None, expected: int) -> None:
        if record.seq != expected:
            raise _Bad(expected, f"record {expected} is missing (found {record.seq} next)")
        if record.prev_hash != self.prev_hash:
            raise _Bad(record.seq, "prev_hash does not match the previous record's hash")
        if hash_of(record) != record.hash:
            raise _Bad(record.seq, "hash does not match the record's fields")
        if payload is None:
            if record.seq not in self.tombstones:
                raise _Bad(record.seq, "payload is missing and no purge record names it")
        else:
            if sha256_hex(payload) != record.payload_sha256:
                raise _Bad(record.seq, "payload does not match payload_sha256")
            try:
                parsed = formats.check(record.kind, payload)
            except formats.FormatError as exc:
                raise _Bad(record.seq, str(exc)) from exc
            self.formats[parsed.format_name()] += 1
            self._check_references(record, parsed, payload)
        self.prev_hash, self.seq = record.hash, record.seq
        self.checked += 1

    def _check_references(self, record: Any, parsed: formats.Payload, payload: bytes) -> None:
        if self.check_blobs:
            self._check_blobs(record.seq, getattr(parsed, "blobs", None) or {})
        if not self.check_rows:
            return
        if record.kind in formats.DECISION_KINDS:
            reason = decision_mismatch(self.session, parsed, payload)
        elif isinstance(parsed, TokenV1):
            reason = self.tokens.mismatch(self.session, parsed)
        else:
            return
        if reason is not None:
            raise _Bad(record.seq, reason)
        self.rows_checked += 1

    def _check_blobs(self, seq: int, blobs: dict[str, str]) -> None:
        for role, digest in sorted(blobs.items()):
            if digest in self._verified_blobs:
                continue
            data = self.session.scalar(select(Blob.data).where(Blob.sha256 == digest))
            if data is None:
                raise _Bad(seq, f"blob {role} ({digest}) is missing")
            if sha256_hex(data) != digest:
                raise _Bad(seq, f"blob {role} ({digest}) bytes do not match its sha256")
            self.blobs_checked += 1
            if len(self._verified_blobs) > 10_000:
                self._verified_blobs.clear()
            self._verified_blobs.add(digest)


def _tombstones(session: Session) -> Tombstones:
    tombstones = Tombstones()
    rows = session.execute(
        select(AuditRecord.seq, AuditPayload.payload)
        .join(AuditPayload, AuditPayload.seq == AuditRecord.seq)
        .where(AuditRecord.kind == "purge")
        .order_by(AuditRecord.seq)
    )
    for seq, payload in rows:
        try:
            parsed = formats.parse("purge", payload)
            if not isinstance(parsed, PurgeV1):
                raise TypeError(f"{parsed.format_name()} names no tombstones")
            tombstones.add(seq, parsed.tombstoned)
        except (ValueError, TypeError) as exc:
            raise _Bad(seq, f"purge record is malformed: {exc}") from exc
    return tombstones


def _hash_before(session: Session, first: int) -> str:
    if first <= 1:
        return GENESIS_HASH
    stored = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == first - 1))
    if stored is None:
        raise _Bad(first - 1, f"record {first - 1} (before the range) is missing")
    return stored


def _check_against(checkpoint: Checkpoint, session: Session, walk: _Walk) -> None:
    if checkpoint.seq == 0:
        return
    if walk.seq < checkpoint.seq:
        raise _Bad(
            walk.seq + 1,
            f"truncated: the chain ends at {walk.seq}, the checkpoint saw {checkpoint.seq}",
        )
    stored = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == checkpoint.seq))
    count = session.scalar(select(func.count()).where(AuditRecord.seq <= checkpoint.seq))
    if stored != checkpoint.hash or count != checkpoint.count:
        raise _Bad(
            checkpoint.seq,
            f"rewritten: record {checkpoint.seq} differs from the checkpoint of "
            f"{checkpoint.created_at.isoformat()}",
        )
