"""A real stack for benchmarks: fresh Postgres database, private Redis, ``xai serve`` (and
``xai worker``) processes — the test harness's :func:`tests.support.live.live_api`."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.settings import Settings
from tests.support.live import live_api


@contextmanager
def running_stack(
    bundles: Path, logs: Path, *, worker: bool = False, **overrides: object
) -> Iterator[tuple[httpx.Client, Settings]]:
    with live_api(bundles, logs, worker=worker, **overrides) as live:
        yield live.client, live.settings


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def describe(name: str, values_ms: list[float]) -> str:
    return (
        f"{name:<34} n={len(values_ms):<5} p50={statistics.median(values_ms):8.2f} ms  "
        f"p99={percentile(values_ms, 99):8.2f} ms"
    )
