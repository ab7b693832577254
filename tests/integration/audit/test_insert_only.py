"""The database itself refuses to change audit rows: UPDATE, DELETE and TRUNCATE fail for the
application's connection (Postgres and SQLite), and on Postgres a non-owner application role
cannot switch the triggers off either, even when granted every table privilege."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from shared import audit
from shared.db.engine import make_engine
from tests.integration.audit import builders

REFUSED = {
    "postgres": [
        "UPDATE audit_records SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_records WHERE seq = 2",
        "TRUNCATE audit_records CASCADE",
        "UPDATE audit_payloads SET payload = 'x' WHERE seq = 1",
        "TRUNCATE audit_payloads",
    ],
    "sqlite": [
        "UPDATE audit_records SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_records WHERE seq = 2",
        "DELETE FROM audit_records",  # SQLite's TRUNCATE
        "UPDATE audit_payloads SET payload = 'x' WHERE seq = 1",
    ],
}


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        builders.chain(session, random.Random(1), records=5)
    return sessions


def test_audit_rows_cannot_be_changed_by_the_application(
    filled: sessionmaker[Session], audit_url: str
) -> None:
    backend = "sqlite" if audit_url.startswith("sqlite") else "postgres"
    for statement in REFUSED[backend]:
        with filled() as session, pytest.raises(DBAPIError, match="insert-only"):
            session.execute(text(statement))
    with filled() as session:
        report = audit.verify(session)
    assert report.ok and report.checked >= 5


@pytest.fixture
def app_role(audit_pg_url: str, pg_admin: str) -> Iterator[str]:
    """A login role that owns nothing but holds every privilege on every table (a careless
    grant): the triggers must still hold. Yields its SQLAlchemy URL."""
    role = f"xai_app_{uuid.uuid4().hex[:8]}"
    database = make_url(audit_pg_url).database
    admin_db = pg_admin.rsplit("/", 1)[0] + f"/{database}"
    with psycopg.connect(admin_db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield make_url(audit_pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_db, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_a_non_owner_application_role_cannot_lift_the_triggers(
    audit_pg_url: str, app_role: str
) -> None:
    owner = make_engine(audit_pg_url)
    with Session(owner) as session, session.begin():
        builders.chain(session, random.Random(2), records=5)
    owner.dispose()
    engine = make_engine(app_role)
    attempts = [
        ("UPDATE audit_records SET kind = 'x' WHERE seq = 1", "insert-only"),
        ("DELETE FROM audit_records WHERE seq = 2", "insert-only"),
        ("TRUNCATE audit_records CASCADE", "insert-only"),
        ("ALTER TABLE audit_records DISABLE TRIGGER audit_records_insert_only", "owner"),
        ("DROP TRIGGER audit_records_insert_only ON audit_records", "owner"),
        ("SET session_replication_role = replica", "permission denied"),
    ]
    for statement, message in attempts:
        with engine.connect() as connection, pytest.raises(DBAPIError, match=message):
            connection.execute(text(statement))
    with Session(engine) as session, session.begin():  # the role can still append
        builders.principal(session, name="appended-by-app-role")
    with Session(engine) as session:
        assert audit.verify(session).ok
    engine.dispose()
