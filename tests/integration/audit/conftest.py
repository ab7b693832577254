"""Fresh, migrated databases for the audit tests (the chain is global state: tests that count
or tamper with it get a database of their own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from tests.support import servers


@pytest.fixture
def audit_pg_url(pg_admin: str) -> Iterator[str]:
    with servers.fresh_database(pg_admin) as url:
        upgrade(url)
        yield url


@pytest.fixture
def audit_sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/audit.db"
    upgrade(url)
    return url


@pytest.fixture(params=["postgres", "sqlite"])
def audit_url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue(f"audit_{'pg' if request.param == 'postgres' else 'sqlite'}_url")
    )


@pytest.fixture
def sessions(audit_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(audit_url)
    yield make_session_factory(engine)
    engine.dispose()
