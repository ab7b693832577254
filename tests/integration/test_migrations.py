"""The Alembic migrations build exactly the schema the models declare, on both backends, and
0006 hashes the Idempotency-Keys stored before it."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import Base, Blob, Prediction
from shared.hashing import idempotency_digest
from tests.support import servers


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_migrations_match_models(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path}/m.db"
        upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []


def _prediction(key: str | None) -> Prediction:
    return Prediction(
        model_name="m",
        model_version="v1",
        model_sha256="0" * 64,
        input_kind="tabular",
        input_media_type="application/json",
        input_sha256="1" * 64,
        tensor_sha256="2" * 64,
        preprocessing={},
        label="a",
        probability=0.5,
        probabilities={"a": 0.5},
        idempotency_key=key,
        request_fingerprint="3" * 64,
        runtime_versions={},
    )


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_0006_hashes_the_stored_idempotency_keys_in_place(
    backend: str, pg_admin: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        if backend == "postgres":
            url = stack.enter_context(servers.fresh_database(pg_admin))
        else:
            url = f"sqlite:///{tmp_path}/keys.db"
        upgrade(url, "0005")
        engine = make_engine(url)
        stack.callback(engine.dispose)
        with make_session_factory(engine).begin() as session:
            session.add(Blob(sha256="1" * 64, media_type="application/json", size=2, data=b"{}"))
            session.flush()
            session.add_all([_prediction("MRN-4711 retry 1"), _prediction("k2"), _prediction(None)])
        with pytest.raises(RuntimeError, match="XAI_CASE_REF_KEY"):
            upgrade(url)  # keys in clear and no key to hash them with: refused, nothing changed
        key = b"migration-test-case-ref-key-0123"
        upgrade(url, case_ref_key=key)
        with make_session_factory(engine)() as session:
            stored = set(session.scalars(select(Prediction.idempotency_key)))
        assert stored == {
            idempotency_digest("MRN-4711 retry 1", case_ref_key=key),
            idempotency_digest("k2", case_ref_key=key),
            None,
        }
