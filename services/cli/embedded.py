"""``xai run``: the whole stack on one machine with no servers (SQLite + Celery's SQLite broker).

It builds the demo bundles if missing, migrates, then supervises three processes (API, one
worker, the reconciler) and stops them all when one ends or on Ctrl-C. The defaults it sets
are only defaults: any ``XAI_*`` variable already in the environment wins.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VAR = Path("var")


def embedded_environment(var: Path) -> dict[str, str]:
    var.mkdir(exist_ok=True)
    key_file = var / "case_ref.key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    root = var.resolve()
    defaults = {
        "XAI_DATABASE_URL": f"sqlite:///{root}/xai.db",
        "XAI_BROKER_URL": f"sqla+sqlite:///{root}/broker.db",
        "XAI_BUNDLES_DIR": str(root / "bundles"),
        "XAI_CASE_REF_KEY": key_file.read_text().strip(),
    }
    env = dict(os.environ)
    for name, value in defaults.items():
        env.setdefault(name, value)
    return env


def use_local_stack() -> None:
    """In a checkout where ``xai run`` has run (``var/case_ref.key`` exists) and nothing else is
    configured, point every command at that stack: ``xai tokens create``, ``xai audit verify``
    then work beside ``make run`` with no setup. Any ``XAI_*`` variable set wins."""
    if "XAI_CASE_REF_KEY" not in os.environ and (VAR / "case_ref.key").is_file():
        os.environ.update(embedded_environment(VAR))


def run_embedded(*, skip_build: bool) -> int:
    env = embedded_environment(VAR)
    os.environ.update(env)  # this process's own Settings read the same values
    from shared.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    if not skip_build:
        from services.worker.demo.build import build_demo_bundles

        build_demo_bundles(settings.bundles_dir)
    from shared.db.migrate import upgrade

    upgrade(settings.database_url)
    tokens = _demo_tokens(settings.database_url)
    _write_token_file(VAR / "demo-tokens.env", tokens)
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
                + f"(also in {VAR / 'demo-tokens.env'}: `. {VAR / 'demo-tokens.env'}` sets "
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


def _demo_tokens(database_url: str) -> dict[str, str]:
    """One new token per role for this run (only their SHA-256 is stored)."""
    from shared.auth.tokens import create_token
    from shared.db.engine import make_engine, make_session_factory
    from shared.db.models import Role

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine).begin() as session:
            return {
                role.value: create_token(session, role=role, name=f"demo-{role.value}")[1]
                for role in Role
            }
    finally:
        engine.dispose()
