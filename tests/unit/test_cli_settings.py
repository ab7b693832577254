"""Which Settings an ``xai`` command gets: the local ``make run`` stack's only while the
environment configures none of the stack's fields; never half of one and half of another."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.cli.config import command_settings, embedded_settings, environment_of

KEY = "k" * 64


@pytest.fixture
def var(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    var.mkdir()
    (var / "case_ref.key").write_text(KEY)
    return var


def test_the_local_stack_is_used_when_nothing_is_configured(var: Path) -> None:
    settings = command_settings(var)
    assert settings.database_url == f"sqlite:///{var.resolve()}/xai.db"
    assert settings.broker_url == f"sqla+sqlite:///{var.resolve()}/broker.db"
    assert settings.bundles_dir == var.resolve() / "bundles"
    assert settings.case_ref_key.get_secret_value() == KEY


def test_a_configured_database_never_falls_back_to_the_local_key_or_broker(
    var: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_DATABASE_URL", "postgresql+psycopg://db/xai")
    with pytest.raises(ValidationError, match="case_ref_key"):
        command_settings(var)
    monkeypatch.setenv("XAI_CASE_REF_KEY", "e" * 32)
    settings = command_settings(var)
    assert settings.database_url == "postgresql+psycopg://db/xai"
    assert settings.case_ref_key.get_secret_value() == "e" * 32
    assert str(var.resolve()) not in settings.broker_url


def test_without_a_local_stack_the_environment_alone_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="case_ref_key"):
        command_settings(tmp_path / "nothing-here")
    monkeypatch.setenv("XAI_CASE_REF_KEY", "f" * 32)
    assert command_settings(tmp_path / "nothing-here").database_url == "sqlite:///var/xai.db"


def test_xai_run_takes_what_is_set_and_the_local_stack_for_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var = tmp_path / "fresh"
    monkeypatch.setenv("XAI_BUNDLES_DIR", str(tmp_path / "mine"))
    settings = embedded_settings(var)
    assert (var / "case_ref.key").stat().st_mode & 0o777 == 0o600
    assert settings.bundles_dir == tmp_path / "mine"
    assert settings.database_url == f"sqlite:///{var.resolve()}/xai.db"
    env = environment_of(settings)
    assert env["XAI_BUNDLES_DIR"] == str(tmp_path / "mine")
    assert env["XAI_CASE_REF_KEY"] == (var / "case_ref.key").read_text()
    assert embedded_settings(var).case_ref_key == settings.case_ref_key  # the key is kept
