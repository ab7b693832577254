"""Workers SIGKILLed mid-job (a pool process, or the whole process group) lose nothing and
archive nothing twice: the lease expires, the reconciler requeues, the fencing token (attempt
number) drops a late result."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.checker import History, Verdict
from tests.faults.harness import fault_stack, run_scenario

KILLS = 10
JOBS = 200


def test_sigkilled_workers_lose_and_duplicate_nothing(
    pg_admin: str,
    fault_bundles: Path,
    tmp_path: Path,
    seed: int,
    report: Callable[[Verdict], None],
) -> None:
    rng = random.Random(seed)
    history = History()
    with fault_stack(admin_url=pg_admin, bundles=fault_bundles, logs=tmp_path) as stack:

        def nemesis() -> None:
            for kill in range(KILLS):
                time.sleep(rng.uniform(0.5, 2.0))
                if kill % 2 == 0:
                    assert stack.kill_busy_pool_child(60), "a busy pool process to kill"
                    history.fault("SIGKILL of the pool process working on a job")
                else:
                    stack.restart_worker()
                    history.fault("SIGKILL of the worker's process group, restarted")

        verdict = run_scenario(
            stack, history, nemesis, scenario="worker-sigkill", seed=seed, n=JOBS
        )
    report(verdict)
    assert verdict.jobs >= JOBS and verdict.faults >= KILLS, verdict.line()
    assert verdict.lost == verdict.duplicated == verdict.corrupt == 0, verdict.line()
    assert verdict.failed == 0, verdict.line()
