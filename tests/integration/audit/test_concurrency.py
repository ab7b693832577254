"""Several writer processes, each with its own engine, append at once: the chain never forks,
``seq`` has no gaps (rolled-back appends leave none), and the whole chain verifies."""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import audit
from shared.audit.formats.v2 import AccessV2
from shared.db.engine import make_engine
from shared.db.models import AuditRecord

WRITERS = 4
TRANSACTIONS = 40


def _writer(url: str, writer: int, start: Any, results: Any) -> None:
    try:
        results.put((writer, _write(url, writer, start), None))
    except Exception as exc:  # reported to the test, which fails with it
        results.put((writer, 0, repr(exc)))


def _write(url: str, writer: int, start: Any) -> int:
    rng = random.Random(writer)
    engine = make_engine(url)
    committed = 0
    start.wait()
    for n in range(TRANSACTIONS):
        with Session(engine) as session:
            appends = rng.randint(1, 3)
            for i in range(appends):
                audit.append(
                    session,
                    kind="access",
                    subject_id=f"writer-{writer}",
                    payload=AccessV2.new(
                        token_id=f"writer-{writer}",
                        role="auditor",
                        name=f"writer {writer}",
                        action="GET /v1/audit/verify",
                        subject_id=None,
                        purpose=f"transaction {n}, append {i}",
                        at="2026-01-05T09:30:00.000000+00:00",
                    ),
                )
            time.sleep(rng.random() * 0.003)  # hold the chain a little, as a real request does
            if rng.random() < 0.2:
                session.rollback()
            else:
                session.commit()
                committed += appends
        time.sleep(rng.random() * 0.003)  # and let the others in
    engine.dispose()
    return committed


def test_concurrent_writers_never_fork_the_chain(audit_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    results = context.Queue()
    processes = [
        context.Process(target=_writer, args=(audit_url, w, start, results)) for w in range(WRITERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in processes]
    assert [error for _, _, error in outcomes if error] == []
    committed = {writer: count for writer, count, _ in outcomes}
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    engine = make_engine(audit_url)
    with Session(engine) as session:
        report = audit.verify(session)
        writers = session.scalars(select(AuditRecord.subject_id).order_by(AuditRecord.seq)).all()
    engine.dispose()
    total = sum(committed.values())
    assert report.ok, report
    assert report.checked == report.head_seq == total  # 1..total, no gap, no fork
    switches = sum(a != b for a, b in zip(writers, writers[1:], strict=False))
    print(f"\n{WRITERS} writers, {total} records, {switches} interleavings: {report}")
    assert switches >= 10  # the writers really did run at the same time
