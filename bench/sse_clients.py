"""Many SSE clients on one API process: its CPU while they wait, and how fast one committed
job transition reaches all of them (real ``xai serve`` process, Postgres, Redis, loopback).

    .venv/bin/python -m bench.sse_clients --clients 500 [--rounds 10] [--idle-s 20]

Every client streams ``/v1/predictions/{id}/events`` of the same prediction. The bench holds
them open for ``--idle-s`` while nothing changes and reads the API process's CPU time from
``/proc``; then it commits ``--rounds`` pairs of transitions of the job with the worker's own
functions (claim: ``running``; give back: ``queued``) and times, for each client, the arrival
of the event after the commit returned. Clients and bench share this process and its clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench._stack import describe
from shared.db import jobs, leases
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import JobStatus, Role
from tests.support import inputs
from tests.support.bundles import build_tiny_image_bundle
from tests.support.live import LiveApi, live_api

CONNECT_BATCH = 50
WAIT_S = 60.0  # bounds every wait: a lost client fails the run instead of hanging it


class Client:
    """One SSE connection (HTTP/1.0, so the body is the raw stream): the status of every
    ``job`` event and the time it arrived."""

    def __init__(self, port: int, path: str, token: str) -> None:
        self.port, self.path, self.token = port, path, token
        self.events: list[tuple[str, float]] = []
        self.arrived = asyncio.Event()
        self.done = False

    async def run(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            f"GET {self.path} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"events stream answered {status!r}")
        while await reader.readline() not in (b"\r\n", b"\n", b""):
            pass
        kind = None
        try:
            while line := await reader.readline():
                if line.startswith(b"event: "):
                    kind = line[7:].strip().decode()
                elif line.startswith(b"data: ") and kind == "job":
                    self.events.append((json.loads(line[6:])["status"], time.perf_counter()))
                    self.arrived.set()
                elif line.startswith(b"data: ") and kind == "done":
                    self.done = True
                    return
        finally:
            writer.close()

    async def next_status(self, expected: str) -> float:
        """The arrival time of the next event, which must carry ``expected``."""
        while not self.events:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), WAIT_S)
        status, at = self.events.pop(0)
        if status != expected:
            raise RuntimeError(f"expected {expected}, the stream sent {status}")
        return at


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def bench(args: argparse.Namespace, live: LiveApi) -> None:
    port, pid = live.settings.port, live.process.pid
    token = live.tokens[Role.clinician].plaintext
    body = live.client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    job_id = uuid.UUID(body["explanations"][0]["id"])
    clients = [Client(port, body["links"]["events"], token) for _ in range(args.clients)]
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, len(clients), CONNECT_BATCH):
        batch = clients[start : start + CONNECT_BATCH]
        tasks += [asyncio.create_task(c.run()) for c in batch]
        await asyncio.gather(*(c.next_status("queued") for c in batch))
    print(f"{len(clients)} clients streaming; API RSS {rss_mib(pid):.0f} MiB")

    before, started = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(args.idle_s)
    idle_cores = (cpu_seconds(pid) - before) / (time.perf_counter() - started)
    print(f"API CPU while {len(clients)} clients wait {args.idle_s:.0f} s: {idle_cores:.4f} cores")

    engine = make_engine(live.settings.database_url)
    sessions = make_session_factory(engine)

    def commit(step: str, attempt: int) -> tuple[int, float]:
        with sessions.begin() as session:
            if step == "claim":
                got = jobs.claim(session, job_id=job_id, lease_s=600, worker="bench", device="cpu")
                assert got is not None
                attempt = got
            elif step == "give_back":
                back = leases.give_back(
                    session,
                    jobs.JOBS,
                    item_id=job_id,
                    attempt=attempt,
                    reason="bench",
                    max_attempts=10**6,
                )
                assert back is JobStatus.queued
            else:
                assert jobs.fail(session, job_id=job_id, attempt=attempt, reason="bench ends")
        return attempt, time.perf_counter()

    latencies_ms: list[float] = []
    attempt = 0
    busy_cpu, busy_started = cpu_seconds(pid), time.perf_counter()
    for _ in range(args.rounds):
        for step, status in (("claim", "running"), ("give_back", "queued")):
            attempt, committed = await asyncio.to_thread(commit, step, attempt)
            arrivals = await asyncio.gather(*(c.next_status(status) for c in clients))
            latencies_ms += [(at - committed) * 1000 for at in arrivals]
    changes = 2 * args.rounds
    busy_cpu_ms = (cpu_seconds(pid) - busy_cpu) * 1000 / changes
    print(describe(f"fan-out of one change to {len(clients)}", latencies_ms))
    print(
        f"  {changes} changes x {len(clients)} clients; API CPU {busy_cpu_ms:.1f} ms per change "
        f"(wall {(time.perf_counter() - busy_started) / changes * 1000:.1f} ms per change)"
    )
    print(f"  max {max(latencies_ms):.2f} ms, mean {statistics.fmean(latencies_ms):.2f} ms")

    attempt, _ = await asyncio.to_thread(commit, "claim", attempt)
    await asyncio.to_thread(commit, "fail", attempt)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT_S)
    assert all(c.done for c in clients), "every stream ended with done"
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle-s", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    bundles = work / "bundles"
    build_tiny_image_bundle(bundles)
    with live_api(bundles, work) as live:
        asyncio.run(bench(args, live))


if __name__ == "__main__":
    main()
