"""A real API process for the hostile corpus and the schema fuzzer: a fresh Postgres database,
a private Redis, ``xai serve`` (and optionally ``xai worker``) as child processes; plus what the
tests read from outside: the record's footprint and the API process's memory."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine, func, select

from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import Blob, ExplanationJob, Prediction, Role
from shared.settings import Settings
from tests.support import servers
from tests.support.processes import settings_env, wait_for, xai_process
from tests.support.tokens import Token, issue_all

KEY = "hostile-input-case-reference-key-0123"
QUEUE = "explanations"


@dataclass
class LiveApi:
    """``client`` sends a clinician's token; ``tokens`` holds one per role."""

    client: httpx.Client
    settings: Settings
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[Role, Token]


@contextmanager
def live_api(
    bundles: Path, logs: Path, *, worker: bool = False, **overrides: object
) -> Iterator[LiveApi]:
    with ExitStack() as stack:
        admin = stack.enter_context(servers.postgres_admin())
        database = stack.enter_context(servers.fresh_database(admin))
        broker = stack.enter_context(servers.private_redis())
        upgrade(database)
        tokens = issue_all(database)
        values: dict[str, object] = {
            "database_url": database,
            "broker_url": broker.url,
            "bundles_dir": bundles,
            "case_ref_key": KEY,
            "port": servers.free_port(),
            "publish_timeout_s": 0.5,
        }
        settings = Settings(**{**values, **overrides})  # type: ignore[arg-type]
        env = settings_env(settings)
        log = logs / "api.log"
        api = stack.enter_context(xai_process(["serve"], env, log))
        if worker:
            stack.enter_context(xai_process(["worker"], env, logs / "worker.log"))
        client = stack.enter_context(
            httpx.Client(
                base_url=f"http://127.0.0.1:{settings.port}",
                timeout=60,
                headers=tokens[Role.clinician].headers,
            )
        )
        wait_for(lambda: _up(client, api), timeout=120, what="the API to start")
        yield LiveApi(client=client, settings=settings, process=api, log=log, tokens=tokens)


def _up(client: httpx.Client, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the API process exited while starting"
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        time.sleep(0.2)
        return False


class Footprint:
    """What a request can leave behind: rows in the record, messages on the queue."""

    def __init__(self, settings: Settings) -> None:
        self._engine: Engine = make_engine(settings.database_url)
        self._sessions = make_session_factory(self._engine)
        self._queue = redis.Redis.from_url(settings.broker_url)

    def __call__(self) -> tuple[int, ...]:
        with self._sessions() as session:
            rows = tuple(
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Prediction, ExplanationJob, Blob)
            )
        return (*rows, int(self._queue.llen(QUEUE)))  # type: ignore[arg-type]

    def close(self) -> None:
        self._engine.dispose()
        self._queue.close()


def memory_mib(pid: int) -> dict[str, float]:
    """Resident set size now (VmRSS) and at its peak (VmHWM) of one process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in status.splitlines()
        if line.startswith(("VmRSS:", "VmHWM:"))
    }
    return {"rss": values["VmRSS"], "peak": values["VmHWM"]}


def reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5), to measure one stretch."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
