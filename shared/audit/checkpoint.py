"""Checkpoints: the chain's head (seq, hash, count, time) written to a file outside the database.

Keep them where a database administrator cannot rewrite them (another host, WORM storage, a
signed e-mail, a ticket). Verifying against one detects a truncated tail and a chain rewritten
consistently from scratch, which no in-database check can. File format (JSON, UTF-8)::

    {"format": "xai-audit-checkpoint/1", "seq": 30, "hash": "…64 hex…", "count": 30,
     "created_at": "2026-01-02T03:04:05.000006+00:00"}
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.audit.chain import GENESIS_HASH, iso
from shared.audit.verify import MAX_SEQ, verify
from shared.db.models import AuditRecord

FORMAT = "xai-audit-checkpoint/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or a chain that must not be checkpointed."""


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    count: int
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "count": self.count,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_json(cls, data: Any) -> Checkpoint:
        try:
            if data["format"] != FORMAT:
                raise CheckpointError(f"not a {FORMAT} file")
            seq, count, digest = data["seq"], data["count"], data["hash"]
            created_at = datetime.fromisoformat(data["created_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"malformed checkpoint: {exc}") from exc
        if not all(isinstance(n, int) and 0 <= n <= MAX_SEQ for n in (seq, count)):
            raise CheckpointError(f"checkpoint seq and count must be integers in 0..{MAX_SEQ}")
        if not (isinstance(digest, str) and _HEX64.fullmatch(digest)):
            raise CheckpointError("checkpoint hash must be 64 lowercase hex characters")
        if created_at.tzinfo is None:
            raise CheckpointError("checkpoint created_at must carry its time zone")
        return cls(seq=seq, hash=digest, count=count, created_at=created_at)


def take_checkpoint(session: Session, *, now: datetime | None = None) -> Checkpoint:
    """The current head as stored (verify the chain before trusting it: export does)."""
    head = session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    count = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
    seq, digest = (0, GENESIS_HASH) if head is None else (int(head[0]), str(head[1]))
    return Checkpoint(seq=seq, hash=digest, count=count, created_at=now or datetime.now(UTC))


def verified_checkpoint(
    session: Session, *, previous: Checkpoint | None = None, now: datetime | None = None
) -> Checkpoint:
    """The head, once the chain up to it verifies (against ``previous`` too, if given)."""
    checkpoint = take_checkpoint(session, now=now)
    report = verify(session, checkpoint=previous)
    if not report.ok:
        raise CheckpointError(
            f"the chain does not verify at {report.first_bad_seq}: {report.reason}"
        )
    return checkpoint


def export_checkpoint(
    session: Session,
    path: Path,
    *,
    previous: Checkpoint | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Verify the chain (against ``previous`` too, if given), then write its head to ``path``
    atomically. Refuses to bless a chain that does not verify."""
    checkpoint = verified_checkpoint(session, previous=previous, now=now)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(checkpoint.to_json(), indent=2) + "\n")
    os.replace(tmp, path)
    return checkpoint


def load_checkpoint(path: Path) -> Checkpoint:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    return Checkpoint.from_json(data)
