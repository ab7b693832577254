"""Fresh, migrated databases for the audit tests (the chain is global state: tests that count
or tamper with it get a database of their own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from tests.golden import archive
from tests.support import servers

Restore = Callable[[Path], sessionmaker[Session]]


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


@pytest.fixture(params=["postgres", "sqlite"])
def restore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restore]:
    """Restore a golden dump (``tests/golden``) as an upgrade meets it: into an empty database
    at the schema its release ran (the dump's Alembic revision), then ``xai db upgrade`` (to
    head) over the restored rows. One dump per test."""
    engines: list[Engine] = []
    with ExitStack() as stack:
        if request.param == "postgres":
            url = stack.enter_context(servers.fresh_database(request.getfixturevalue("pg_admin")))
        else:
            url = f"sqlite:///{tmp_path}/golden.db"

        def restored(path: Path) -> sessionmaker[Session]:
            upgrade(url, archive.read(path)[0]["alembic"])
            engines.append(make_engine(url))
            sessions = make_session_factory(engines[-1])
            with sessions.begin() as session:
                archive.load(session, path)
            upgrade(url)
            return sessions

        yield restored
        for engine in engines:
            engine.dispose()
