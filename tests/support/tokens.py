"""API tokens for tests, made the way ``xai tokens create`` makes them (one per role)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shared.auth.tokens import create_token
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import Role

PURPOSE = "integration test"


@dataclass(frozen=True)
class Token:
    id: str
    plaintext: str
    role: Role

    @property
    def headers(self) -> dict[str, str]:
        """Authorization (and, for an auditor, the stated purpose every auditor read needs)."""
        headers = {"Authorization": f"Bearer {self.plaintext}"}
        if self.role is Role.auditor:
            headers["X-Audit-Purpose"] = PURPOSE
        return headers


def issue(database: str | Engine, role: Role | str, name: str | None = None) -> Token:
    role = Role(role)
    engine = make_engine(database) if isinstance(database, str) else database
    try:
        with make_session_factory(engine).begin() as session:
            token_id, plaintext = create_token(session, role=role, name=name or f"test {role}")
    finally:
        if isinstance(database, str):
            engine.dispose()
    return Token(id=str(token_id), plaintext=plaintext, role=role)


def issue_all(database: str | Engine) -> dict[Role, Token]:
    return {role: issue(database, role) for role in Role}
