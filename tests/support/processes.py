"""Real processes for integration tests: ``xai worker``, ``xai reconciler``, ``xai serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from shared.settings import Settings


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"XAI_{name.upper()}"] = str(value)
    env.update(extra)
    return env


@contextmanager
def xai_process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    service = Service(command, env, log)
    process = service.start()
    try:
        yield process
    finally:
        service.stop()


class Service:
    """An ``xai`` command as a restartable process in its own process group (so a test can
    SIGKILL the whole group, or only a child, and start it again)."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "started"
        return self.process.pid

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli.main", *self.command],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[int]:
        """Pids of the live children of the main process (e.g. Celery's pool processes)."""
        return children_of(self.pid) if self.running() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up, no goodbye to the broker."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_final(client: httpx.Client, job_id: str, *, timeout: float = 120) -> dict:  # type: ignore[type-arg]
    def final() -> dict | None:  # type: ignore[type-arg]
        body = client.get(f"/v1/explanations/{job_id}").json()
        return body if body["status"] in ("succeeded", "failed") else None

    return wait_for(final, timeout=timeout, what=f"job {job_id} to finish")
