"""Real servers for the tests: a fresh Postgres database per run and a private Redis.

Postgres: the one on 127.0.0.1:5432 (``XAI_TEST_POSTGRES_ADMIN_URL`` to override); a new
database ``xai_test_<random>`` per run, migrated with Alembic, dropped afterwards. If nothing
listens and the server binaries exist, a private cluster is started on a free port.
Redis: a private ``redis-server`` on a free port (so tests may kill it), else the shared one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

ADMIN_URL = os.environ.get(
    "XAI_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


@contextmanager
def postgres_admin() -> Iterator[str]:
    """An admin URL (plain libpq form) of a running Postgres."""
    if _reachable(ADMIN_URL):
        yield ADMIN_URL
        return
    bindir = _pg_bindir()
    if bindir is None:
        raise RuntimeError(f"no Postgres at {ADMIN_URL} and no server binaries to start one")
    with _private_postgres(bindir) as url:
        yield url


def _pg_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((c for c in candidates if (c / "initdb").exists()), None)


class PrivatePostgres:
    """A private cluster (initdb + pg_ctl) on a free port, which a test may stop and start."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="xai-pg-"))
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            shutil.chown(self.folder, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.data = self.folder / "data"
        self._run("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -h 127.0.0.1"
        log = str(self.folder / "log")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", log, "-o", options, "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        command = [*self.run_as, str(self.bindir / tool), *args]
        subprocess.run(command, check=check, capture_output=True)


@contextmanager
def _private_postgres(bindir: Path) -> Iterator[str]:
    with private_postgres(bindir) as server:
        yield server.url


@contextmanager
def private_postgres(bindir: Path | None = None) -> Iterator[PrivatePostgres]:
    """A private, running cluster; removed afterwards."""
    bindir = bindir or _pg_bindir()
    if bindir is None:
        raise RuntimeError("no Postgres server binaries (initdb, pg_ctl) to start a cluster")
    server = PrivatePostgres(bindir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database; yields its SQLAlchemy URL (psycopg 3 driver)."""
    name = f"xai_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung broker)."""
        assert self.process is not None, "a private redis-server"
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None, "a private redis-server"
        self.process.send_signal(signal.SIGCONT)

    def start(self) -> None:
        """(Re)start empty on the same port: Redis runs without persistence here."""
        self.stop()
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait_port(self.port)


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def private_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        yield RedisServer(port=6379, process=None)  # the shared one; never killed by tests
        return
    server = RedisServer(port=free_port(), process=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()
