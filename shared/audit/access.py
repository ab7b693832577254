"""The access log: who read what, when, and for which stated purpose (every auditor read).

Each entry is a row in ``access_log`` (for queries) and an ``access`` record in the chain (so a
deleted or edited log row is still evidenced). The API calls :func:`log_access` in the same
transaction that serves the read, after authorising it.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from shared.audit.chain import append, iso
from shared.audit.formats.v2 import AccessV2
from shared.db.models import AccessLogEntry

if TYPE_CHECKING:
    from shared.auth.tokens import Principal

MAX_PURPOSE = 1000
MAX_ACTION = 255
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories a purpose may not hold: controls (ANSI escapes, NUL, tab, C1), format
characters (bidi overrides, zero-width), surrogates, line and paragraph separators."""


class AccessError(ValueError):
    """The read cannot be logged as asked (no stated purpose, an over-long field)."""


def purpose_problem(purpose: str) -> str | None:
    """Why ``purpose`` cannot be recorded as stated (None: it can): empty, longer than
    ``MAX_PURPOSE`` characters, or holding a character that would not print as itself."""
    if not purpose.strip():
        return "a stated purpose is required for every audit read"
    if len(purpose) > MAX_PURPOSE:
        return f"purpose is {len(purpose)} characters, at most {MAX_PURPOSE}"
    for index, char in enumerate(purpose):
        if unicodedata.category(char) in _UNPRINTABLE:
            return f"purpose holds the control character U+{ord(char):04X} at {index}"
    return None


def log_access(
    session: Session,
    *,
    principal: Principal,
    action: str,
    purpose: str,
    subject_id: str | None = None,
    query: dict[str, str] | None = None,
    now: datetime | None = None,
) -> AccessLogEntry:
    """``action``: the route and method (``GET /v1/audit/records/{id}``); ``subject_id``: what
    was read (a prediction id, ``chain``, a search); ``purpose``: the reader's stated reason;
    ``query``: the request's query parameters (a search's filters), already pseudonymised by
    the caller — they go into the chain record only."""
    purpose = purpose.strip() if purpose else ""
    problem = purpose_problem(purpose)
    if problem is not None:
        raise AccessError(problem)
    if not 0 < len(action) <= MAX_ACTION:
        raise AccessError(f"action must be 1 to {MAX_ACTION} characters")
    at = now or datetime.now(UTC)
    fields: dict[str, Any] = {
        "token_id": str(principal.token_id),
        "role": str(principal.role),
        "name": principal.name,
        "action": action,
        "subject_id": subject_id,
        "purpose": purpose,
        "at": iso(at),
    }
    if query:  # left out, not null, when the read had no query parameters
        fields["query"] = query
    payload = AccessV2.new(**fields)
    record = append(session, kind="access", subject_id=subject_id or "-", payload=payload, now=at)
    entry = AccessLogEntry(
        created_at=at,
        token_id=principal.token_id,
        role=str(principal.role),
        action=action,
        subject_id=subject_id,
        purpose=purpose,
        audit_seq=record.seq,
    )
    session.add(entry)
    session.flush()  # rows in a fixed order (foreign keys; no relationship orders them)
    return entry
