"""``xai run`` (what ``make run`` starts): SQLite + SQLite broker, API, worker, reconciler,
demo tokens printed; a tabular case gets its explanation; SIGTERM stops everything; a restart
keeps the demo tokens, so the earlier predictions stay visible."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.bundles import breast_cancer_case
from tests.support.processes import wait_for
from tests.support.servers import free_port


def test_the_embedded_stack_runs_and_stops(tmp_path: Path, bundles_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    env.update({"XAI_BUNDLES_DIR": str(bundles_dir), "XAI_PORT": str(port)})
    process, log, tokens = _start(tmp_path, env)
    try:
        token_file = tmp_path / "var" / "demo-tokens.env"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert dict(line.split("=", 1) for line in token_file.read_text().split()) == {
            role.upper(): token for role, token in tokens.items()
        }
        headers = {"Authorization": f"Bearer {tokens['clinician']}"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=30, headers=headers
        ) as client:
            body = client.post(
                "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case(2)}
            ).json()
            link = body["explanations"][0]["links"]["self"]
            done = wait_for(
                lambda: (j := client.get(link).json())["status"] in ("succeeded", "failed") and j,
                timeout=120,
                what="the explanation",
            )
            assert done["status"] == "succeeded", (done, log.read_text()[-3000:])
            auditor = {"Authorization": f"Bearer {tokens['auditor']}", "X-Audit-Purpose": "test"}
            found = client.get("/v1/audit/records", headers=auditor).json()["items"]
            assert [item["id"] for item in found] == [body["id"]]
            assert client.get("/v1/audit/verify", headers=auditor).json()["ok"]
        for name in ("xai.db", "broker.db", "case_ref.key"):
            assert (tmp_path / "var" / name).stat().st_mode & 0o777 == 0o600, name
        # the admin commands find the local stack with no setup (no XAI_* variables)
        verify = subprocess.run(
            [sys.executable, "-m", "services.cli.main", "audit", "verify"],
            cwd=tmp_path,
            env={k: v for k, v in env.items() if k not in ("XAI_BUNDLES_DIR", "XAI_PORT")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verify.returncode == 0 and verify.stdout.startswith("ok:"), verify
    finally:
        _stop(process, log)
    process, log, again = _start(tmp_path, env)
    try:
        assert again == tokens
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            seen = client.get(f"/v1/predictions/{body['id']}", headers=headers)
            assert seen.status_code == 200, seen.text
    finally:
        _stop(process, log)
    _assert_tokens_only_in_the_token_file(tmp_path, tokens)


def _assert_tokens_only_in_the_token_file(root: Path, tokens: dict[str, str]) -> None:
    """The stack prints its tokens to stdout and writes them to ``var/demo-tokens.env``
    (0600) only: no other file it creates (database, WAL, broker, key, any log) holds one.
    ``run.log`` is this test's capture of stdout, not a file the stack writes."""
    files = [p for p in root.rglob("*") if p.is_file() and p.name != "run.log"]
    holding = {
        str(path.relative_to(root))
        for path in files
        for token in tokens.values()
        if token.encode() in path.read_bytes()
    }
    assert holding == {"var/demo-tokens.env"}, holding  # the scan finds them where they are
    assert not [p for p in files if p.suffix == ".log"], "the stack writes no log file"


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path, dict]:
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "run", "--skip-build"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: "Ctrl-C stops everything" in log.read_text(),
            timeout=120,
            what="the embedded stack to start",
        )
    except BaseException:
        _stop(process, log)
        raise
    tokens = dict(re.findall(r"demo (\w+) +token: (xai_\S+)", log.read_text()))
    assert set(tokens) == {"clinician", "auditor", "ops"}
    return process, log, tokens


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
