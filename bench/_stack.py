"""A real stack for benchmarks: fresh Postgres database, private Redis, ``xai serve``/``worker``
processes; reuses the test harness's server helpers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from shared.db.migrate import upgrade
from shared.settings import Settings
from tests.support import servers
from tests.support.processes import settings_env, wait_for, xai_process

KEY = "benchmark-case-reference-key-0123456789"


@contextmanager
def running_stack(
    bundles: Path, logs: Path, *, worker: bool = False, **overrides: object
) -> Iterator[tuple[httpx.Client, Settings]]:
    with ExitStack() as stack:
        admin = stack.enter_context(servers.postgres_admin())
        database = stack.enter_context(servers.fresh_database(admin))
        redis = stack.enter_context(servers.private_redis())
        upgrade(database)
        port = servers.free_port()
        values: dict[str, object] = {
            "database_url": database, "broker_url": redis.url, "bundles_dir": bundles,
            "case_ref_key": KEY, "port": port,
        }
        values.update(overrides)
        settings = Settings(**values)  # type: ignore[arg-type]
        env = settings_env(settings)
        stack.enter_context(xai_process(["serve"], env, logs / "api.log"))
        if worker:
            stack.enter_context(xai_process(["worker"], env, logs / "worker.log"))
        client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                  timeout=60))
        wait_for(lambda: _up(client), timeout=120, what="the API to start")
        yield client, settings


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        time.sleep(0.2)
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def describe(name: str, values_ms: list[float]) -> str:
    return (f"{name:<34} n={len(values_ms):<5} p50={statistics.median(values_ms):8.2f} ms  "
            f"p99={percentile(values_ms, 99):8.2f} ms")
