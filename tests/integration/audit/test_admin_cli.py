"""``xai tokens``, ``xai audit``, ``xai retention`` against a real database (both backends)."""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from services.cli import admin
from shared.auth import authenticate
from shared.db.models import LegalHold, Prediction
from shared.hashing import pseudonymise
from shared.settings import get_settings
from tests.conftest import TEST_KEY
from tests.integration.audit import builders

Run = Callable[..., int]


@pytest.fixture
def xai(audit_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("XAI_DATABASE_URL", audit_url)
    monkeypatch.setenv("XAI_CASE_REF_KEY", TEST_KEY)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="xai")
    admin.register(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        return int(args.handler(args))

    yield run
    get_settings.cache_clear()


def test_tokens_create_prints_only_the_token_and_revoke_disables_it(
    xai: Run, sessions: sessionmaker[Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert xai("tokens", "create", "--role", "auditor", "--name", "auditor-1") == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"xai_[A-Za-z0-9_-]{43}\n", out)
    token_id = re.search(r"token ([0-9a-f-]{36})", err)
    assert token_id is not None
    with sessions() as session:
        principal = authenticate(session, out.strip())
        assert principal is not None and principal.name == "auditor-1"
    assert xai("tokens", "revoke", token_id.group(1)) == 0
    assert xai("tokens", "revoke", "00000000-0000-0000-0000-000000000001") == 1
    with sessions() as session:
        assert authenticate(session, out.strip()) is None
    with pytest.raises(SystemExit):
        xai("tokens", "create", "--role", "root")


def test_audit_verify_and_checkpoint_detect_a_truncated_tail(
    xai: Run,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    audit_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions.begin() as session:
        builders.chain(session, random.Random(5), records=10)
    checkpoint = tmp_path / "head.json"
    assert xai("audit", "checkpoint", "--out", str(checkpoint)) == 0
    saved = json.loads(checkpoint.read_text())
    assert saved["seq"] == saved["count"] >= 10
    assert xai("audit", "verify", "--checkpoint", str(checkpoint)) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("ok: ")
    with sessions.begin() as session:  # an attacker who can lift the SQLite triggers
        if audit_url.startswith("sqlite"):
            session.execute(text("DROP TRIGGER audit_records_no_delete"))
        else:
            session.execute(text("SET LOCAL session_replication_role = replica"))
        session.execute(text("DELETE FROM audit_payloads WHERE seq = :s"), {"s": saved["seq"]})
        session.execute(text("DELETE FROM audit_records WHERE seq = :s"), {"s": saved["seq"]})
        session.execute(text("UPDATE audit_chain_head SET seq = seq - 1"))
    assert xai("audit", "verify") == 0  # a valid, shorter chain…
    assert xai("audit", "verify", "--checkpoint", str(checkpoint)) == 1  # …but not to the file
    assert f"FAILED at seq {saved['seq']}: truncated" in capsys.readouterr().out
    nxt = tmp_path / "next.json"
    assert xai("audit", "checkpoint", "--out", str(nxt), "--previous", str(checkpoint)) == 1
    assert not nxt.exists()
    checkpoint.write_text("{}")
    assert xai("audit", "verify", "--checkpoint", str(checkpoint)) == 2


def test_retention_commands(xai: Run, sessions: sessionmaker[Session]) -> None:
    rng = random.Random(6)
    with sessions.begin() as session:  # both made on 2026-01-05: past the 183-day default
        held = builders.decision(session, rng)
        old = builders.decision(session, rng)
    hold = ["retention", "hold", "--reason", "inquiry", "--by", "legal"]
    assert xai(*hold, "--prediction", str(held.id)) == 0
    assert xai(*hold, "--case-ref", "CASE-1") == 0
    assert xai("retention", "hold", "--case-ref", "CASE-1", "--reason", " ", "--by", "l") == 2
    assert xai("retention", "release", "00000000-0000-0000-0000-000000000001", "--by", "l") == 1
    assert xai("retention", "purge") == 0
    assert xai("audit", "verify") == 0
    with sessions() as session:
        assert session.get(Prediction, held.id) is not None
        assert session.get(Prediction, old.id) is None
        cases = session.scalars(select(LegalHold.case_ref_hmac)).all()
    assert pseudonymise("CASE-1", key=TEST_KEY.encode()) in cases
    assert "CASE-1" not in cases
