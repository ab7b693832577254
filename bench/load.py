"""Latency isolation under load: does a worker busy with Integrated Gradients slow the API?

    .venv/bin/python -m bench.load [--seconds 60] [--bundles DIR]

One run, one real stack (``xai serve`` + ``xai worker`` on a fresh Postgres database and a
private Redis) serving ``chest-xray-demo/clean`` (built by the project's own builder):

1. the maximum prediction throughput, closed loop (``--clients`` requests in flight);
2. an open-loop stream at half that rate for ``--seconds`` with the worker idle;
3. a backlog of IG jobs (``--backlog`` predictions asking for integrated_gradients), then the
   same stream again while the worker works through it.

The stream's predictions ask for the cheapest explanation (``saliency``: one gradient; a
prediction names at least one method), the same in both phases: the only difference between
phases 2 and 3 is the IG backlog. Latency is measured
from each request's *scheduled* send time (no coordinated omission). Goal: p99 busy
<= 2 x p99 idle, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import create_engine, text

from bench._stack import percentile, running_stack
from services.worker.demo.build import DEMO_BUILDERS, build_bundle
from tests.support.inputs import png_bytes, radiograph
from tests.support.processes import children_of, settings_env, wait_for, xai_process

MODEL = "chest-xray-demo"
STREAM_METHOD = "saliency"


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    def line(self) -> str:
        if not self.latencies_ms:
            return f"{self.name:<12} no answers, errors={self.errors}"
        return (
            f"{self.name:<12} n={len(self.latencies_ms):<5} "
            f"p50={statistics.median(self.latencies_ms):7.2f} ms  "
            f"p99={percentile(self.latencies_ms, 99):7.2f} ms  "
            f"max={max(self.latencies_ms):7.2f} ms  errors={self.errors}"
        )


async def _predict(client: httpx.AsyncClient, png: bytes, methods: str) -> bool:
    try:
        response = await client.post(
            "/v1/predictions",
            files={"file": ("x.png", png)},
            data={"model": MODEL, "methods": methods},
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 201


async def max_throughput(
    client: httpx.AsyncClient, png: bytes, *, clients: int, seconds: float
) -> float:
    """Completed predictions per second with ``clients`` requests always in flight."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            done += await _predict(client, png, STREAM_METHOD)

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return done / (time.perf_counter() - started)


async def open_loop(
    client: httpx.AsyncClient, png: bytes, *, name: str, rate: float, seconds: float
) -> Phase:
    """Requests sent at ``rate`` per second whatever the answers; latency from the schedule."""
    phase = Phase(name)
    start = time.perf_counter() + 0.1

    async def one(scheduled: float) -> None:
        ok = await _predict(client, png, STREAM_METHOD)
        if ok:
            phase.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        else:
            phase.errors += 1

    tasks = []
    for index in range(int(rate * seconds)):
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return phase


async def enqueue(client: httpx.AsyncClient, png: bytes, *, jobs: int, in_flight: int) -> int:
    """Queue ``jobs`` IG explanations (a few requests at a time); returns how many were taken."""
    gate = asyncio.Semaphore(in_flight)

    async def one() -> bool:
        async with gate:
            return await _predict(client, png, "integrated_gradients")

    return sum(await asyncio.gather(*(one() for _ in range(jobs))))


def job_counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT status, count(*) FROM explanation_jobs GROUP BY status")
            ).all()
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


async def run(args: argparse.Namespace, client: httpx.AsyncClient, database_url: str) -> None:
    png = png_bytes(Image.fromarray((radiograph(128, seed=3) * 255).astype(np.uint8)))
    for _ in range(20):  # warm-up: first requests pay lazy imports and pool connections
        await _predict(client, png, STREAM_METHOD)
    ceiling = await max_throughput(client, png, clients=args.clients, seconds=10)
    rate = ceiling / 2
    await asyncio.sleep(5)  # let the record settle after the burst (WAL, autovacuum)
    print(
        f"max throughput {ceiling:.1f} predictions/s ({args.clients} in flight); "
        f"stream rate {rate:.1f}/s for {args.seconds:.0f} s per phase"
    )
    idle = await open_loop(client, png, name="worker idle", rate=rate, seconds=args.seconds)

    queued = await enqueue(client, png, jobs=args.backlog, in_flight=args.clients)
    await asyncio.sleep(3)  # the worker has picked up the backlog
    before = job_counts(database_url)
    busy = await open_loop(client, png, name="worker busy", rate=rate, seconds=args.seconds)
    after = job_counts(database_url)
    done = after.get("succeeded", 0) - before.get("succeeded", 0)
    waiting = after.get("queued", 0) + after.get("running", 0)
    print(
        f"IG backlog: {queued} jobs queued; {done} archived during the busy phase, "
        f"{waiting} still waiting at its end ({'saturated' if waiting else 'NOT saturated'})"
    )
    print(idle.line())
    print(busy.line())
    p50 = statistics.median(busy.latencies_ms) / statistics.median(idle.latencies_ms)
    p99 = percentile(busy.latencies_ms, 99) / percentile(idle.latencies_ms, 99)
    errors = idle.errors + busy.errors
    verdict = "met" if p99 <= 2 and errors == 0 and waiting else "NOT met"
    print(
        f"ratio busy/idle: p50 {p50:.2f}  p99 {p99:.2f}  errors {errors}  "
        f"(goal p99 <= 2, 0 errors, worker saturated: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4, help="in flight, max-throughput phase")
    parser.add_argument("--backlog", type=int, default=600, help="IG predictions queued")
    parser.add_argument("--bundles", type=Path, help="reuse (or build into) this bundles folder")
    parser.add_argument("--worker-threads", type=int, default=1, help="XAI_WORKER_TORCH_THREADS")
    parser.add_argument("--worker-nice", type=int, default=0, help="xai worker --nice N")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    bundles = args.bundles or work / "bundles"
    clean = next(b for b in DEMO_BUILDERS if b.name == MODEL and b.version == "clean")
    build_bundle(bundles, clean)
    with (
        running_stack(bundles, work, worker_torch_threads=args.worker_threads) as (
            sync_client,
            settings,
        ),
        xai_process(
            ["worker", "--nice", str(args.worker_nice)],
            settings_env(settings),
            work / "worker.log",
        ) as worker,
    ):
        pool = wait_for(lambda: children_of(worker.pid), timeout=120, what="the worker's pool")
        nice = Path(f"/proc/{pool[0]}/stat").read_text().rsplit(")", 1)[1].split()[16]
        print(
            f"logs in {work}; API ORT intra-op threads {settings.ort_intra_op_threads}; worker "
            f"torch threads {settings.worker_torch_threads}, concurrency "
            f"{settings.worker_concurrency}, pool process nice {nice}; {os.cpu_count()} CPUs"
        )
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        base = f"http://127.0.0.1:{settings.port}"

        async def session() -> None:
            async with httpx.AsyncClient(
                base_url=base, timeout=30, limits=limits, headers=dict(sync_client.headers)
            ) as client:
                await run(args, client, settings.database_url)

        asyncio.run(session())


if __name__ == "__main__":
    main()
