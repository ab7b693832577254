"""Poison jobs end ``failed`` with their reason after bounded attempts and block nobody.

Three kinds, through the real processes: an explainer that refuses (a Grad-CAM layer the model
lacks: failed at once), an explainer that always raises unexpectedly (SmoothGrad asked for
10**12 samples: torch's allocator raises; given back until the attempts are spent), and a job
that kills its worker every time it runs (the nemesis SIGKILLs whichever pool process claims
it, as an out-of-memory kill would: the lease expires each time, then the job is failed).
``poison-cnn`` serves the very bytes of ``tiny-cnn``: the healthy tiny-cnn jobs also show that
a worker explains each job with its own bundle's manifest, not the first one loaded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, text

from tests.faults.checker import History, Verdict, check, settle
from tests.faults.harness import MIX, concurrently, fault_stack, predict, versions

MAX_ATTEMPTS = 3
HEALTHY = 60


def test_poison_jobs_fail_with_their_reason_and_block_nobody(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    history = History()
    with fault_stack(
        admin_url=pg_admin, bundles=fault_bundles, logs=tmp_path, max_attempts=MAX_ATTEMPTS
    ) as stack:
        for index, method in enumerate(("gradcam", "smoothgrad")):
            assert predict(stack.client, history, index, "poison-cnn", method) == 201
        assert predict(stack.client, history, 2, "poison-cnn", "integrated_gradients") == 201
        crasher = history.acknowledged[-1].job_ids[0]
        poisons = history.job_ids

        def nemesis() -> None:  # kills the crasher's worker on each of its attempts
            killed = 0
            for _ in range(MAX_ATTEMPTS):
                killed = stack.kill_busy_pool_child(60, job_id=crasher, after_attempt=killed)
                assert killed, "the crashing job was not claimed again"
                history.fault(f"SIGKILL of the pool process running attempt {killed}")

        with concurrently(nemesis):
            for index in range(HEALTHY):
                predict(stack.client, history, index, *MIX[index % len(MIX)])
        settle(stack.engine, history, timeout=240)
        verdict = check(
            stack.engine, history, scenario="poison", seed=seed, versions=versions(stack.engine)
        )
        jobs = _jobs(stack.engine)
    report(verdict)
    refused, raising, crashing = (jobs[job_id] for job_id in poisons)
    assert refused.status == "failed" and refused.attempts == 1, refused
    assert "no-such-layer" in refused.last_error, refused
    assert raising.status == "failed" and raising.attempts == MAX_ATTEMPTS, raising
    assert raising.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts: RuntimeError")
    assert crashing.status == "failed" and crashing.attempts == MAX_ATTEMPTS, crashing
    assert f"worker lost {MAX_ATTEMPTS} times" in crashing.last_error, crashing
    healthy = [jobs[job_id] for job_id in history.job_ids if job_id not in poisons]
    assert len(healthy) == HEALTHY and all(job.status == "succeeded" for job in healthy)
    # Not blocked: every healthy job, though posted after the poison, finished before it.
    assert max(job.finished_at for job in healthy) < crashing.finished_at
    assert verdict.lost == verdict.duplicated == verdict.corrupt == 0, verdict.line()
    assert verdict.failed == len(poisons), verdict.line()


def _jobs(engine: Engine) -> dict[uuid.UUID, Row[Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, status, attempts, last_error, finished_at FROM explanation_jobs")
        ).all()
    return {row.id: row for row in rows}
