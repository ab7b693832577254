"""Replays are leased work like jobs: a worker SIGKILLed mid-replay, or Redis emptied while
replays wait in it, loses no replay and records none twice (each final replay has exactly one
``replay`` audit record), and every replay of a deterministic method reproduces its archive.

The replays recompute archived explanations of the tiny bundles, and of ``poison-cnn``'s slow
Integrated Gradients (256 passes of one step: a replay long enough to be killed mid-run)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.faults.checker import History, Verdict, check_replays, settle
from tests.faults.harness import (
    MIX,
    STALL_S,
    FaultStack,
    archived_jobs,
    concurrently,
    fault_stack,
    request_replay,
    versions,
)

SLOW = ("poison-cnn", "integrated_gradients")
TO_REPLAY = (*MIX, SLOW, SLOW, *MIX, SLOW, SLOW)
REPLAYS = 60
KILLS = 6


def _replay_all(
    stack: FaultStack, history: History, jobs: list[uuid.UUID], n: int, interval_s: float
) -> None:
    for index in range(n):
        assert request_replay(stack, history, jobs[index % len(jobs)]) == 202
        time.sleep(interval_s)


def _verdict(stack: FaultStack, history: History, scenario: str, seed: int) -> Verdict:
    settle(stack.engine, history, timeout=900, quiet_s=STALL_S, replays=True)
    return check_replays(
        stack.engine, history, scenario=scenario, seed=seed, versions=versions(stack.engine)
    )


def _assert_clean(verdict: Verdict, n: int) -> None:
    assert verdict.jobs == n and verdict.statuses == {202: n}, verdict.line()
    assert verdict.lost == verdict.duplicated == verdict.corrupt == 0, verdict.line()
    assert verdict.failed == verdict.unacknowledged == 0, verdict.line()


def test_sigkilled_workers_lose_and_duplicate_no_replay(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    rng = random.Random(seed)
    history = History()
    with fault_stack(admin_url=pg_admin, bundles=fault_bundles, logs=tmp_path) as stack:
        jobs = archived_jobs(stack, TO_REPLAY)

        def nemesis() -> None:
            for kill in range(KILLS):
                time.sleep(rng.uniform(0.5, 2.0))
                if kill % 2 == 0:
                    assert stack.kill_busy_pool_child(60, table="replays"), "a busy replay"
                    history.fault("SIGKILL of the pool process working on a replay")
                else:
                    stack.restart_worker()
                    history.fault("SIGKILL of the worker's process group, restarted")

        with concurrently(nemesis):
            _replay_all(stack, history, jobs, REPLAYS, interval_s=0.15)
        verdict = _verdict(stack, history, "replay-worker-sigkill", seed)
    report(verdict)
    assert verdict.faults >= KILLS, verdict.line()
    assert verdict.duplicate_executions > 0, f"no replay was killed mid-run: {verdict.line()}"
    _assert_clean(verdict, REPLAYS)


def test_redis_emptied_with_replays_queued_loses_and_duplicates_none(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    """The worker is down while the replays are published; Redis then restarts empty, so
    every message is gone and only the reconciler, from Postgres, can bring them back. More
    replays follow while Redis restarts twice more under a running worker."""
    rng = random.Random(seed)
    history = History()
    with fault_stack(admin_url=pg_admin, bundles=fault_bundles, logs=tmp_path) as stack:
        jobs = archived_jobs(stack, MIX)
        stack.worker.kill()
        _replay_all(stack, history, jobs, REPLAYS // 2, interval_s=0.02)
        stack.redis.stop()
        stack.redis.start()
        history.fault(f"Redis SIGKILLed and restarted empty with {REPLAYS // 2} replays queued")
        stack.worker.start()
        stack.wait_worker_ready()

        def nemesis() -> None:
            for _ in range(2):
                time.sleep(rng.uniform(1.0, 3.0))
                stack.redis.stop()
                time.sleep(rng.uniform(0.5, 1.5))
                stack.redis.start()
                history.fault("Redis SIGKILLed and restarted empty")

        with concurrently(nemesis):
            _replay_all(stack, history, jobs, REPLAYS // 2, interval_s=0.15)
        verdict = _verdict(stack, history, "replay-redis-emptied", seed)
    report(verdict)
    assert verdict.faults >= 3, verdict.line()
    _assert_clean(verdict, REPLAYS)
