"""Run the Alembic migrations programmatically (``xai db upgrade`` and the test fixtures)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, case_ref_key: bytes | None = None) -> None:
    """``case_ref_key``: needed by migration 0006 when the database holds Idempotency-Keys
    stored in clear (it hashes them)."""
    config = alembic_config(url)
    config.attributes["case_ref_key"] = case_ref_key
    command.upgrade(config, revision)
