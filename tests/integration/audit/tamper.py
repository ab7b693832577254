"""Tamperings an attacker with superuser rights on Postgres could apply (triggers disabled by
``session_replication_role = replica``; constraints dropped where they stand in the way).

Each function changes the chain (or a row a record vouches for) once and returns what the
verifier must report: the first bad seq, and whether only a checkpoint can reveal it (a
truncated tail, a consistent rewrite).
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.audit import record_hash
from shared.audit.chain import GENESIS_HASH
from shared.audit.formats import canonical_value
from shared.db.models import AuditPayload, AuditRecord
from shared.hashing import sha256_hex

HEX = "0123456789abcdef"
TEXT = string.ascii_letters + string.digits + "-_:"
FIELDS = ("seq", "created_at", "kind", "subject_id", "payload_sha256", "prev_hash", "hash")


@dataclass(frozen=True)
class Expected:
    first_bad_seq: int | None  # None: a row that no record vouches for
    needs_checkpoint: bool = False


@dataclass(frozen=True)
class Chain:
    """The untampered chain, read once: seq -> row, and blob digest -> seqs that cite it."""

    rows: dict[int, AuditRecord]
    payloads: dict[int, bytes]
    blob_citers: dict[str, list[int]]
    naming: dict[tuple[str, str], list[int]]  # (record kind, a row id it names) -> seqs

    @property
    def head(self) -> int:
        return max(self.rows)

    @classmethod
    def read(cls, session: Session) -> Chain:
        rows = {r.seq: r for r in session.scalars(select(AuditRecord))}
        payloads = {
            seq: data
            for seq, data in session.execute(select(AuditPayload.seq, AuditPayload.payload))
        }
        citers: dict[str, list[int]] = {}
        naming: dict[tuple[str, str], list[int]] = {}
        for seq in sorted(payloads):
            payload, kind = json.loads(payloads[seq]), rows[seq].kind
            for digest in (payload.get("blobs") or {}).values():
                citers.setdefault(digest, []).append(seq)
            keys = ("prediction_id", "job_id", "result_id", "feedback_id", "token_id")
            named = [payload[k] for k in keys if isinstance(payload.get(k), str)]
            named += [e["job_id"] for e in payload.get("explanations", [])]
            for row_id in named:
                naming.setdefault((kind, row_id), []).append(seq)
        session.expunge_all()
        return cls(rows=rows, payloads=payloads, blob_citers=citers, naming=naming)

    def of_kind(self, kind: str) -> list[int]:
        return sorted(seq for seq, row in self.rows.items() if row.kind == kind)


Tampering = Callable[[Session, random.Random, Chain], Expected]


def _sql(session: Session, statement: str, **params: object) -> None:
    session.execute(text(statement), params)


def _other(alphabet: str, current: str, rng: random.Random) -> str:
    return rng.choice([c for c in alphabet if c != current])


def change_one_byte(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """One byte of one field of one record (a column, or the payload bytes)."""
    seq = rng.randint(1, chain.head)
    row = chain.rows[seq]
    field = rng.choice((*FIELDS, "payload"))
    if field == "payload":
        data = bytearray(chain.payloads[seq])
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        _sql(session, "UPDATE audit_payloads SET payload = :v WHERE seq = :s", v=bytes(data), s=seq)
    elif field == "seq":
        moved = seq + rng.choice((256, 1024, 4096))  # one byte of the integer, no collision
        _sql(session, "UPDATE audit_records SET seq = :v WHERE seq = :s", v=moved, s=seq)
    elif field == "created_at":
        delta = rng.choice((timedelta(microseconds=1), timedelta(seconds=1), timedelta(days=1)))
        moved_at = row.created_at + rng.choice((1, -1)) * delta
        _sql(session, "UPDATE audit_records SET created_at = :v WHERE seq = :s", v=moved_at, s=seq)
    else:
        value: str = getattr(row, field)
        i = rng.randrange(len(value))
        alphabet = HEX if field in ("payload_sha256", "prev_hash", "hash") else TEXT
        changed = value[:i] + _other(alphabet, value[i], rng) + value[i + 1 :]
        _sql(session, f"UPDATE audit_records SET {field} = :v WHERE seq = :s", v=changed, s=seq)
    return Expected(seq)


def change_blob(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Flip a bit of a stored input/attributions/rendering, or delete the blob."""
    digest = rng.choice(sorted(chain.blob_citers))
    if rng.random() < 0.8:
        data = bytearray(
            session.execute(
                text("SELECT data FROM blobs WHERE sha256 = :d"), {"d": digest}
            ).scalar_one()
        )
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        _sql(session, "UPDATE blobs SET data = :v WHERE sha256 = :d", v=bytes(data), d=digest)
    else:
        _sql(session, "DELETE FROM blobs WHERE sha256 = :d", d=digest)
    return Expected(chain.blob_citers[digest][0])


def delete_row(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Delete a record (not the last: that is a truncation), its payload, or both."""
    seq = rng.randint(1, chain.head - 1)
    what = rng.choice(("record", "payload", "both"))
    if what in ("payload", "both"):
        _sql(session, "DELETE FROM audit_payloads WHERE seq = :s", s=seq)
    if what in ("record", "both"):
        _sql(session, "DELETE FROM audit_records WHERE seq = :s", s=seq)
    return Expected(seq)


def swap_rows(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Exchange the positions of two records (with or without their payloads)."""
    i, j = sorted(rng.sample(range(1, chain.head + 1), 2))
    tables = ("audit_records", "audit_payloads") if rng.random() < 0.5 else ("audit_records",)
    for table in tables:
        _sql(session, f"UPDATE {table} SET seq = -1 WHERE seq = :i", i=i)
        _sql(session, f"UPDATE {table} SET seq = :i WHERE seq = :j", i=i, j=j)
        _sql(session, f"UPDATE {table} SET seq = :j WHERE seq = -1", j=j)
    return Expected(i)


def insert_forged(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Insert a forged auditor read at position k, shifting the rest up. Half the forgers also
    link it properly (correct prev_hash and self-hash; UNIQUE(prev_hash) dropped to make room)."""
    k = rng.randint(1, chain.head)
    for table in ("audit_records", "audit_payloads"):
        _sql(session, f"UPDATE {table} SET seq = seq + 1000000 WHERE seq >= :k", k=k)
        _sql(session, f"UPDATE {table} SET seq = seq - 999999 WHERE seq >= 1000000")
    linked = rng.random() < 0.5
    prev = chain.rows[k - 1].hash if k > 1 else GENESIS_HASH
    if linked:
        _sql(session, "ALTER TABLE audit_records DROP CONSTRAINT audit_records_prev_hash_key")
    else:
        prev = "".join(rng.choice(HEX) for _ in range(64))
    access = json.loads(chain.payloads[rng.choice(chain.of_kind("access"))])
    body = canonical_value("access", {**access, "purpose": "forged: a read that never happened"})
    created_at = chain.rows[k].created_at
    fields = dict(
        seq=k,
        kind="access",
        subject_id=chain.rows[k].subject_id,
        created_at=created_at,
        payload_sha256=sha256_hex(body),
        prev_hash=prev,
    )
    _sql(
        session,
        "INSERT INTO audit_records (seq, created_at, kind, subject_id, payload_sha256,"
        " prev_hash, hash) VALUES (:seq, :created_at, :kind, :subject_id, :payload_sha256,"
        " :prev_hash, :hash)",
        **fields,
        hash=record_hash(**fields),  # type: ignore[arg-type]
    )
    _sql(session, "INSERT INTO audit_payloads (seq, payload) VALUES (:s, :p)", s=k, p=body)
    return Expected(k + 1 if linked else k)


def truncate_tail(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Delete the last m records, wind the head counter back and drop the tokens the lost
    records created: a valid, shorter chain."""
    keep = rng.randint(1, chain.head - 1)
    _sql(session, "DELETE FROM audit_payloads WHERE seq > :k", k=keep)
    _sql(session, "DELETE FROM audit_records WHERE seq > :k", k=keep)
    _sql(session, "UPDATE audit_chain_head SET seq = :k", k=keep)
    tokens = [t for (kind, t), seqs in chain.naming.items() if kind == "token" and seqs[0] <= keep]
    _sql(session, "DELETE FROM api_tokens WHERE NOT (CAST(id AS text) = ANY(:k))", k=tokens)
    return Expected(keep + 1, needs_checkpoint=True)


def rewrite_chain(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Change what an auditor read was for, and recompute every hash from there, consistently
    (rows agree: access records have none). A third of the time the earliest read is changed:
    the chain is rebuilt from near its start."""
    reads = chain.of_kind("access")
    start = reads[0] if rng.random() < 1 / 3 else rng.choice(reads)
    prev = chain.rows[start - 1].hash if start > 1 else GENESIS_HASH
    for seq in range(start, chain.head + 1):
        row = chain.rows[seq]
        body = chain.payloads[seq]
        if seq == start:
            payload = json.loads(body)
            payload["purpose"] = "routine"
            body = canonical_value(row.kind, payload)
            _sql(session, "UPDATE audit_payloads SET payload = :p WHERE seq = :s", p=body, s=seq)
        fields = dict(
            seq=seq,
            kind=row.kind,
            subject_id=row.subject_id,
            created_at=row.created_at,
            payload_sha256=sha256_hex(body),
            prev_hash=prev,
        )
        prev = record_hash(**fields)  # type: ignore[arg-type]
        _sql(
            session,
            "UPDATE audit_records SET payload_sha256 = :payload_sha256, prev_hash = :prev_hash,"
            " hash = :hash WHERE seq = :seq",
            payload_sha256=fields["payload_sha256"],
            prev_hash=fields["prev_hash"],
            hash=prev,
            seq=seq,
        )
    return Expected(chain.head, needs_checkpoint=True)


@dataclass(frozen=True)
class RowEdit:
    source: str  # a record kind that names the row…
    key: str  # …under this payload key
    table: str
    assignment: str
    shown_by: tuple[str, ...]  # the record kinds whose payload carries the edited field


ROW_EDITS = {
    "label": RowEdit(
        "prediction", "prediction_id", "predictions", "label = label || 'x'", ("prediction",)
    ),
    "probability": RowEdit(
        "prediction",
        "prediction_id",
        "predictions",
        "probability = probability * (1 + 1e-12)",
        ("prediction",),
    ),
    "seed": RowEdit(
        "explanation",
        "job_id",
        "explanation_jobs",
        "seed = seed + 1",
        ("prediction", "explanation"),
    ),
    "device": RowEdit(
        "explanation", "job_id", "explanation_jobs", "device = 'cuda:0'", ("explanation",)
    ),
    "quality": RowEdit(
        "explanation",
        "result_id",
        "explanation_results",
        """quality = '{"ig_delta": 0.0}'""",
        ("explanation",),
    ),
    "attributions": RowEdit(
        "explanation",
        "result_id",
        "explanation_results",
        "attributions_sha256 = repeat('0', 64)",
        ("explanation",),
    ),
    "decision": RowEdit(
        "feedback",
        "feedback_id",
        "clinician_feedback",
        "decision = 'accept', corrected_label = NULL",
        ("feedback",),
    ),
    "role": RowEdit("token", "token_id", "api_tokens", "role = 'ops'", ("token",)),
}


def change_a_row(session: Session, rng: random.Random, chain: Chain) -> Expected:
    """Edit a decision's or a token's live row (not the chain), or slip in a rogue token."""
    edit = rng.choice([*sorted(ROW_EDITS), "rogue token"])
    if edit == "rogue token":
        _sql(
            session,
            "INSERT INTO api_tokens (id, role, name, token_sha256, created_at)"
            " VALUES (:i, 'auditor', 'rogue', :h, now())",
            i=uuid.uuid4(),
            h=sha256_hex(b"rogue"),
        )
        return Expected(None)
    row = ROW_EDITS[edit]
    seq = rng.choice(chain.of_kind(row.source))
    target = json.loads(chain.payloads[seq])[row.key]
    _sql(session, f"UPDATE {row.table} SET {row.assignment} WHERE id = :i", i=uuid.UUID(target))
    return Expected(min(s for kind in row.shown_by for s in chain.naming.get((kind, target), [])))


TAMPERINGS: dict[str, Tampering] = {
    "change a row": change_a_row,
    "change one byte": change_one_byte,
    "change a blob": change_blob,
    "delete a row": delete_row,
    "swap two rows": swap_rows,
    "insert a forged row": insert_forged,
    "truncate the tail": truncate_tail,
    "rewrite the chain": rewrite_chain,
}
