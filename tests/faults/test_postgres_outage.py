"""Postgres down: no diagnosis without its record (503), the API recovers by itself when the
database returns, workers and the reconciler retry, and no acknowledged job is lost.

The shared Postgres serves other tests, so this scenario stops and starts a private cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.checker import History, Verdict
from tests.faults.harness import fault_stack, run_scenario
from tests.support.servers import private_postgres

JOBS = 200
OUTAGE_S = 15.0


def test_postgres_outage_refuses_with_503_then_recovers_and_loses_nothing(
    fault_bundles: Path, tmp_path: Path, seed: int, report: Callable[[Verdict], None]
) -> None:
    history = History()
    with (
        private_postgres() as postgres,
        fault_stack(admin_url=postgres.url, bundles=fault_bundles, logs=tmp_path) as stack,
    ):

        def nemesis() -> None:
            time.sleep(4.0)
            postgres.stop("immediate")  # no goodbye to clients: connections just die
            history.fault(f"Postgres stopped (immediate) for {OUTAGE_S:.0f} s")
            time.sleep(OUTAGE_S)
            postgres.start()

        verdict = run_scenario(
            stack, history, nemesis, scenario="postgres-outage", seed=seed, n=JOBS
        )
    report(verdict)
    assert set(verdict.statuses) == {201, 503}, verdict.line()  # refused, never a 500 or a hang
    assert verdict.jobs >= JOBS, verdict.line()
    assert history.statuses[-20:] == [201] * 20, "the API did not recover by itself"
    assert verdict.lost == verdict.duplicated == verdict.corrupt == verdict.failed == 0, (
        verdict.line()
    )
