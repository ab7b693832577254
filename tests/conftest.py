"""Shared fixtures: real Postgres (fresh database per run), a private Redis, tiny bundles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.db.models import Role
from shared.settings import Settings
from tests.support import servers
from tests.support.bundles import build_tiny_image_bundle, build_tiny_tabular_bundle
from tests.support.tokens import Token, issue_all

TEST_KEY = "test-case-reference-key-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    """No test depends on the caller's settings (``XAI_PORT=8123 make test`` must pass): every
    ``XAI_*`` variable that names a Settings field is dropped before any fixture or test reads
    Settings, and so for every process a test starts. The tests' own switches
    (``XAI_FAULTS_SEED``, ``XAI_TAMPER_SEED``, ``XAI_UPDATE_SCREENSHOTS``) are kept."""
    for field in Settings.model_fields:
        os.environ.pop(f"XAI_{field.upper()}", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.path) or "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def bundles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundles")
    build_tiny_image_bundle(root)
    build_tiny_tabular_bundle(root)
    return root


@pytest.fixture(scope="session")
def demo_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo bundles, built from scratch once per run by the project's own builder and
    admitted as ``xai models build-demo`` admits them."""
    from services.admission.validate import admission_check
    from services.worker.demo.build import build_demo_bundles

    out = tmp_path_factory.mktemp("demo-bundles")
    build_demo_bundles(out, log=lambda _: None, check=admission_check)
    return out


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    with servers.postgres_admin() as url:
        yield url


@pytest.fixture(scope="session")
def pg_url(pg_admin: str) -> Iterator[str]:
    from shared.db.migrate import upgrade

    with servers.fresh_database(pg_admin) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.RedisServer]:
    with servers.private_redis() as server:
        yield server


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {"case_ref_key": TEST_KEY, "publish_timeout_s": 0.5}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_settings(pg_url: str, redis_server: servers.RedisServer, bundles_dir: Path) -> Settings:
    return make_settings(database_url=pg_url, broker_url=redis_server.url, bundles_dir=bundles_dir)


@pytest.fixture(scope="session")
def tokens(pg_url: str) -> dict[Role, Token]:
    """One API token per role in the session's database (as ``xai tokens create`` makes them)."""
    return issue_all(pg_url)


@pytest.fixture(scope="session")
def clinician(tokens: dict[Role, Token]) -> dict[str, str]:
    """Headers of the clinician token: what the clinical frontend sends."""
    return tokens[Role.clinician].headers
