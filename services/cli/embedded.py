"""``xai run``: the whole stack on one machine with no servers (SQLite + Celery's SQLite broker).

It builds the demo bundles if missing, migrates, then supervises three processes (API, one
worker, the reconciler) and stops them all when one ends or on Ctrl-C. The defaults it sets
are only defaults: any ``XAI_*`` variable already in the environment wins. The demo tokens of an
earlier run are kept while they are valid; files under ``var/`` are created readable by the
owner only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services.cli.config import VAR, embedded_settings, environment_of


def run_embedded(*, skip_build: bool, var: Path = VAR) -> int:
    os.umask(0o077)  # the database, its WAL and the broker file: readable by the owner only
    settings = embedded_settings(var)
    env = {**os.environ, **environment_of(settings)}
    if not skip_build:
        from services.admission.validate import admission_check
        from services.worker.demo.build import build_demo_bundles

        build_demo_bundles(settings.bundles_dir, check=admission_check)
    from shared.db.migrate import upgrade

    upgrade(settings.database_url, case_ref_key=settings.case_ref_key.get_secret_value().encode())
    token_file = var / "demo-tokens.env"
    tokens = _demo_tokens(settings.database_url, _read_token_file(token_file))
    _write_token_file(token_file, tokens)
    xai = [sys.executable, "-m", "services.cli.main"]
    processes = {
        name: subprocess.Popen([*xai, *command], env=env)
        for name, command in (
            ("api", ["serve"]),
            ("worker", ["worker"]),
            ("reconciler", ["reconciler"]),
        )
    }
    url = f"http://{settings.host}:{settings.port}"
    try:
        if _wait_healthy(f"{url}/healthz", processes):
            print(
                f"\nxai-stack is running at {url}  (API docs: {url}/docs)\n"
                f"database: {settings.database_url}\nbundles:  {settings.bundles_dir}\n"
                + "".join(f"demo {role:<9} token: {token}\n" for role, token in tokens.items())
                + f"(also in {token_file}: `. {token_file}` sets "
                "$CLINICIAN, $AUDITOR and $OPS)\n" + "Ctrl-C stops everything.\n",
                flush=True,
            )
        return _supervise(processes)
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(processes)


def _wait_healthy(url: str, processes: dict[str, subprocess.Popen[bytes]]) -> bool:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            time.sleep(0.3)
    return False


def _supervise(processes: dict[str, subprocess.Popen[bytes]]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    while True:
        for name, process in processes.items():
            code = process.poll()
            if code is not None:
                print(f"{name} exited with {code}; stopping the stack", file=sys.stderr)
                return code or 1
        time.sleep(0.5)


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _write_token_file(path: Path, tokens: dict[str, str]) -> None:
    """This run's demo tokens as shell variables, readable by the owner only."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text("".join(f"{role.upper()}={token}\n" for role, token in tokens.items()))


def _read_token_file(path: Path) -> dict[str, str]:
    """The tokens an earlier run wrote, by role (empty if there is no file)."""
    if not path.is_file():
        return {}
    pairs = (line.partition("=") for line in path.read_text().splitlines())
    return {name.lower(): value for name, sep, value in pairs if sep}


def _demo_tokens(database_url: str, earlier: dict[str, str]) -> dict[str, str]:
    """One token per role: the earlier run's while it is still valid for that role (so that a
    restart keeps a clinician's earlier predictions visible), else a new one (only its SHA-256
    is stored)."""
    from shared.auth.tokens import authenticate, create_token
    from shared.db.engine import make_engine, make_session_factory
    from shared.db.models import Role

    engine = make_engine(database_url)
    tokens: dict[str, str] = {}
    try:
        with make_session_factory(engine).begin() as session:
            for role in Role:
                token = earlier.get(role.value)
                principal = authenticate(session, token)
                if token is None or principal is None or principal.role != role:
                    token = create_token(session, role=role, name=f"demo-{role.value}")[1]
                tokens[role.value] = token
    finally:
        engine.dispose()
    return tokens
