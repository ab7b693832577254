"""Redis only wakes workers. Killed and restarted empty, or frozen for 30 s, it may lose every
message: predictions are still answered at once, and the reconciler re-publishes from Postgres.
Without the reconciler the same faults lose jobs, and the checker sees it (negative control)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.checker import History, Verdict
from tests.faults.harness import fault_stack, run_scenario

JOBS = 200
RESTARTS = 4
FREEZE_S = 30.0


def restart_redis_while_predicting(
    admin_url: str, bundles: Path, logs: Path, seed: int, *, reconciler: bool
) -> Verdict:
    rng = random.Random(seed)
    history = History()
    with fault_stack(
        admin_url=admin_url, bundles=bundles, logs=logs, reconciler=reconciler
    ) as stack:

        def nemesis() -> None:
            for _ in range(RESTARTS):
                time.sleep(rng.uniform(2.0, 4.0))
                stack.redis.stop()
                time.sleep(rng.uniform(1.0, 2.0))  # predictions keep coming meanwhile
                stack.redis.start()
                history.fault("Redis SIGKILLed and restarted empty")

        return run_scenario(
            stack,
            history,
            nemesis,
            scenario="redis-restart" if reconciler else "redis-restart-without-reconciler",
            seed=seed,
            n=JOBS,
            quiet_s=None if reconciler else 15,  # lost jobs never finish: stop when nothing moves
        )


def test_redis_restarted_empty_loses_and_duplicates_nothing(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    verdict = restart_redis_while_predicting(
        pg_admin, fault_bundles, tmp_path, seed, reconciler=True
    )
    report(verdict)
    assert verdict.jobs >= JOBS and verdict.faults >= 3, verdict.line()
    assert verdict.statuses == {201: verdict.jobs}, verdict.line()
    assert verdict.lost == verdict.duplicated == verdict.corrupt == verdict.failed == 0, (
        verdict.line()
    )


def test_negative_control_without_reconciler_the_checker_sees_loss(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    verdict = restart_redis_while_predicting(
        pg_admin, fault_bundles, tmp_path, seed, reconciler=False
    )
    report(verdict)
    assert verdict.faults >= 3, verdict.line()
    assert verdict.lost > 0, f"the checker saw no loss without the reconciler: {verdict.line()}"


def test_redis_frozen_30s_answers_at_once_and_archives_everything_after(
    pg_admin: str, fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    history = History()
    with fault_stack(admin_url=pg_admin, bundles=fault_bundles, logs=tmp_path) as stack:

        def nemesis() -> None:
            time.sleep(2.0)
            stack.redis.freeze()  # SIGSTOP: connections open, nothing answers
            history.fault(f"Redis frozen (SIGSTOP) for {FREEZE_S:.0f} s")
            time.sleep(FREEZE_S)
            stack.redis.thaw()

        verdict = run_scenario(
            stack,
            history,
            nemesis,
            scenario="redis-frozen-30s",
            seed=seed,
            n=JOBS + 40,
            interval_s=0.15,
        )
    report(verdict)
    # No hang: every request answered 201 within the client's 10 s timeout (max reported).
    assert verdict.statuses == {201: verdict.jobs} and verdict.jobs >= JOBS, verdict.line()
    assert verdict.lost == verdict.duplicated == verdict.corrupt == verdict.failed == 0, (
        verdict.line()
    )
