"""API tokens: created and revoked by the CLI, stored only as SHA-256 digests.

A token is ``xai_`` + 43 URL-safe characters from ``secrets.token_urlsafe(32)``: 256 random bits.
Why a fast hash suffices: slow password hashes (bcrypt, scrypt, Argon2) exist because
passwords are guessable; a 256-bit random token is not. Inverting SHA-256 or guessing a token
costs ~2^255 tries whatever the hash speed, so a stolen ``api_tokens`` table reveals no token,
and one digest lookup per request stays cheap.

Where constant time matters: nowhere a secret is compared. :func:`authenticate` hashes the
presented token and looks the digest up through a unique index; lookup timing could at most
reveal bits of SHA-256(guess), which tell an attacker nothing about any valid token (they would
need a preimage). No plaintext and no prefix of a stored secret is ever compared byte by byte.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.audit.chain import append
from shared.audit.formats.v2 import TokenV2
from shared.db.models import ApiToken, Role
from shared.hashing import sha256_hex

PREFIX = "xai_"
MAX_TOKEN_CHARS = 256
MAX_NAME = 128


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id (recorded as ``requested_by`` / in the access log)."""

    token_id: uuid.UUID
    role: Role
    name: str


def token_digest(plaintext: str) -> str:
    return sha256_hex(plaintext.encode())


def create_token(
    session: Session, *, role: Role | str, name: str, now: datetime | None = None
) -> tuple[uuid.UUID, str]:
    """Store a new token (digest only) and return its id and the plaintext, shown once."""
    role = Role(role)
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"a token name has 1..{MAX_NAME} characters")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        id=uuid.uuid4(),
        role=role,
        name=name,
        token_sha256=token_digest(plaintext),
        created_at=now or datetime.now(UTC),
    )
    session.add(token)
    session.flush()  # rows in a fixed order (foreign keys; no relationship orders them)
    _audit(session, "create", token, now)
    return token.id, plaintext


def revoke(session: Session, token_id: uuid.UUID, *, now: datetime | None = None) -> bool:
    """Revoke a token; False if it was already revoked. Raises LookupError if unknown."""
    token = session.get(ApiToken, token_id, with_for_update=True)
    if token is None:
        raise LookupError(f"no token {token_id}")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now or datetime.now(UTC)
    _audit(session, "revoke", token, now)
    return True


def authenticate(session: Session, plaintext: str | None) -> Principal | None:
    """The principal of a valid, unrevoked token, else None (the API answers 401)."""
    if not plaintext or len(plaintext) > MAX_TOKEN_CHARS or not plaintext.startswith(PREFIX):
        return None
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_sha256 == token_digest(plaintext))
    ).one_or_none()
    if token is None or token.revoked_at is not None:
        return None
    return Principal(token_id=token.id, role=Role(token.role), name=token.name)


def _audit(session: Session, action: str, token: ApiToken, now: datetime | None) -> None:
    payload = TokenV2.new(
        action=action, token_id=str(token.id), role=str(token.role), name=token.name
    )
    append(session, kind="token", subject_id=f"token:{token.id}", payload=payload, now=now)
