"""Which Settings a command runs with: the environment's, or those of the local ``make run`` stack.

``xai run`` keeps its state under ``var/`` (``case_ref.key``, ``xai.db``, ``broker.db``,
``bundles/``). In that checkout the admin commands (``xai tokens``, ``xai audit``, …) work beside
it with no setup — but only while the environment configures none of the stack's own fields
(:data:`shared.settings.STACK_FIELDS`). As soon as one is set (``XAI_DATABASE_URL`` for a
Postgres deployment, say), every stack field comes from the environment alone, and a missing one
(``XAI_CASE_REF_KEY``) is an error: a command pointed at Postgres never silently pairs it with
the local SQLite broker or key.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from shared.settings import STACK_FIELDS, Settings, configured_fields

VAR = Path("var")


def local_stack_values(var: Path, *, create: bool = False) -> dict[str, Any] | None:
    """The stack fields of the embedded stack under ``var``; None if none was set up there.
    ``create``: make ``var/`` and its key (0600) first, as ``xai run`` does."""
    key_file = var / "case_ref.key"
    if create:
        var.mkdir(mode=0o700, exist_ok=True)
        if not key_file.exists():
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_hex(32))
    if not key_file.is_file():
        return None
    root = var.resolve()
    return {
        "database_url": f"sqlite:///{root}/xai.db",
        "broker_url": f"sqla+sqlite:///{root}/broker.db",
        "bundles_dir": root / "bundles",
        "case_ref_key": key_file.read_text().strip(),
    }


def command_settings(var: Path = VAR) -> Settings:
    """Settings for an ``xai`` command (see the module docstring)."""
    local = local_stack_values(var)
    if local is not None and not configured_fields() & STACK_FIELDS:
        return Settings(**local)
    return Settings()  # type: ignore[call-arg]  # filled from the environment


def embedded_settings(var: Path = VAR) -> Settings:
    """Settings of ``xai run``: the local stack's values for every stack field the environment
    leaves unset (an ``XAI_*`` variable that is set wins)."""
    local = local_stack_values(var, create=True)
    assert local is not None
    configured = configured_fields()
    return Settings(**{name: value for name, value in local.items() if name not in configured})


def environment_of(settings: Settings) -> dict[str, str]:
    """The stack fields as ``XAI_*`` variables, for the processes ``xai run`` starts."""
    return {
        "XAI_DATABASE_URL": settings.database_url,
        "XAI_BROKER_URL": settings.broker_url,
        "XAI_BUNDLES_DIR": str(settings.bundles_dir),
        "XAI_CASE_REF_KEY": settings.case_ref_key.get_secret_value(),
    }
