"""A Jepsen-style checker: what the clients were told (the history) against the archive.

The history records every prediction the API acknowledged (201 and its job ids), every refusal
and every fault the nemesis injected. Once the system has settled, :func:`check` reads the record
and counts what an auditor must never find: acknowledged jobs that never reached a final state
(lost), archive rows beyond one per job (duplicated), results of jobs that did not succeed or
diagnoses that differ from the record (corrupt). Duplicate *executions* (a job claimed more than
once: at-least-once delivery at work) are counted and reported, not failed. Replays are checked
the same way (:func:`check_replays`), against their ``replay`` audit records.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

from tests.support.processes import wait_for

FINAL = ("succeeded", "failed")


@dataclass
class Acknowledged:
    prediction_id: uuid.UUID
    job_ids: list[uuid.UUID]
    label: str


@dataclass
class History:
    """Thread-safe log of one scenario's operations and faults."""

    acknowledged: list[Acknowledged] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # in order; 0: no answer (transport error)
    latencies_s: list[float] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    replay_ids: list[uuid.UUID] = field(default_factory=list)  # replays the API acknowledged
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int, elapsed_s: float, body: dict | None = None) -> None:  # type: ignore[type-arg]
        with self._lock:
            self.statuses.append(status)
            self.latencies_s.append(elapsed_s)
            if status == 201 and body is not None:
                self.acknowledged.append(
                    Acknowledged(
                        prediction_id=uuid.UUID(body["id"]),
                        job_ids=[uuid.UUID(j["id"]) for j in body["explanations"]],
                        label=body["diagnosis"]["label"],
                    )
                )

    def record_replay(self, status: int, elapsed_s: float, body: dict | None = None) -> None:  # type: ignore[type-arg]
        with self._lock:
            self.statuses.append(status)
            self.latencies_s.append(elapsed_s)
            if status == 202 and body is not None:
                self.replay_ids.append(uuid.UUID(body["id"]))

    def fault(self, what: str) -> None:
        with self._lock:
            self.faults.append(f"{time.strftime('%H:%M:%S')} {what}")

    @property
    def job_ids(self) -> list[uuid.UUID]:
        return [job for ack in self.acknowledged for job in ack.job_ids]


@dataclass(frozen=True)
class Verdict:
    scenario: str
    jobs: int
    faults: int
    lost: int
    duplicated: int
    duplicate_executions: int
    failed: int
    corrupt: int
    unacknowledged: int
    p95_archive_s: float | None
    max_latency_s: float
    statuses: dict[int, int]
    seed: int
    versions: str
    kind: str = "jobs"  # what ``jobs`` counts: explanation jobs, or replays

    def line(self) -> str:
        p95 = "n/a" if self.p95_archive_s is None else f"{self.p95_archive_s:.1f}s"
        statuses = ",".join(f"{code}x{n}" for code, n in sorted(self.statuses.items()))
        return (
            f"FAULTS scenario={self.scenario} {self.kind}={self.jobs} faults={self.faults} "
            f"lost={self.lost} duplicated={self.duplicated} "
            f"duplicate_executions={self.duplicate_executions} failed={self.failed} "
            f"corrupt={self.corrupt} unacknowledged={self.unacknowledged} "
            f"p95_time_to_archive={p95} max_request_latency={self.max_latency_s:.2f}s "
            f"http={statuses} seed={self.seed} versions=[{self.versions}]"
        )


def final_count(engine: Engine, ids: list[uuid.UUID], table: str = "explanation_jobs") -> int:
    if not ids:
        return 0
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    f"SELECT count(*) FROM {table} "
                    "WHERE id = ANY(:ids) AND status IN ('succeeded', 'failed')"
                ),
                {"ids": ids},
            ).scalar_one()
        )


def settle(
    engine: Engine,
    history: History,
    *,
    timeout: float,
    quiet_s: float | None = None,
    replays: bool = False,
) -> None:
    """Wait until every acknowledged job (or, with ``replays``, replay) is final; with
    ``quiet_s``, also stop once none has become final for that long (the negative control,
    whose lost jobs never finish)."""
    ids = history.replay_ids if replays else history.job_ids
    table = "replays" if replays else "explanation_jobs"
    progress = {"count": -1, "since": time.monotonic()}

    def settled() -> bool:
        count = final_count(engine, ids, table)
        if count != progress["count"]:
            progress.update(count=count, since=time.monotonic())
        quiet = quiet_s is not None and time.monotonic() - progress["since"] >= quiet_s
        return count == len(ids) or quiet

    with suppress(AssertionError):  # what is still unfinished, the checker reports as lost
        wait_for(settled, timeout=timeout, interval=0.5, what=f"acknowledged {table} to finish")


def check(engine: Engine, history: History, *, scenario: str, seed: int, versions: str) -> Verdict:
    ids = [str(j) for j in history.job_ids]
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT j.id, j.status, j.attempts, "
                "extract(epoch FROM j.finished_at - p.created_at) AS archive_s, "
                "(SELECT count(*) FROM explanation_results r WHERE r.job_id = j.id) AS results "
                "FROM explanation_jobs j JOIN predictions p ON p.id = j.prediction_id "
                "WHERE j.id = ANY(:ids)"
            ),
            {"ids": history.job_ids},
        ).all()
        duplicated = connection.execute(
            text(
                "SELECT coalesce(sum(n - 1), 0) FROM "
                "(SELECT count(*) AS n FROM explanation_results GROUP BY job_id) AS c"
            )
        ).scalar_one()
        orphans = connection.execute(
            text(
                "SELECT count(*) FROM explanation_results r JOIN explanation_jobs j "
                "ON j.id = r.job_id WHERE j.status <> 'succeeded'"
            )
        ).scalar_one()
        labels = dict(connection.execute(text("SELECT id, label FROM predictions")).all())
    found = {str(row.id): row for row in rows}
    lost = sum(
        1
        for job_id in ids
        if job_id not in found
        or found[job_id].status not in FINAL
        or (found[job_id].status == "succeeded" and found[job_id].results == 0)
    )
    mislabelled = sum(1 for a in history.acknowledged if labels.get(a.prediction_id) != a.label)
    times = sorted(float(r.archive_s) for r in rows if r.status == "succeeded")
    acknowledged = {a.prediction_id for a in history.acknowledged}
    return Verdict(
        scenario=scenario,
        jobs=len(ids),
        faults=len(history.faults),
        lost=lost,
        duplicated=int(duplicated),
        duplicate_executions=sum(max(0, r.attempts - 1) for r in rows),
        failed=sum(1 for r in rows if r.status == "failed"),
        corrupt=int(orphans) + mislabelled,
        unacknowledged=len(set(labels) - acknowledged),
        p95_archive_s=times[min(len(times) - 1, int(0.95 * len(times)))] if times else None,
        max_latency_s=max(history.latencies_s, default=0.0),
        statuses=dict(Counter(history.statuses)),
        seed=seed,
        versions=versions,
    )


def check_replays(
    engine: Engine, history: History, *, scenario: str, seed: int, versions: str
) -> Verdict:
    """Replays against their archive: every acknowledged replay final with exactly one
    ``replay`` audit record (the one its row names); a second record is a duplicate, a final
    replay without its record is lost, a succeeded replay that did not reproduce the archived
    attributions exactly (deterministic methods on the same worker) is corrupt."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.id, r.status, r.attempts, r.audit_seq, "
                "extract(epoch FROM r.finished_at - r.created_at) AS archive_s, "
                "(r.outcome ->> 'exact') AS exact, "
                "(SELECT convert_from(p.payload, 'UTF8')::json ->> 'replay_id' FROM "
                "audit_payloads p JOIN audit_records a ON a.seq = p.seq "
                "WHERE a.seq = r.audit_seq AND a.kind = 'replay') AS recorded "
                "FROM replays r"
            )
        ).all()
        records = connection.execute(
            text(
                "SELECT convert_from(p.payload, 'UTF8')::json ->> 'replay_id' AS replay_id, "
                "count(*) AS n FROM audit_records a JOIN audit_payloads p ON p.seq = a.seq "
                "WHERE a.kind = 'replay' GROUP BY 1"
            )
        ).all()
    found = {row.id: row for row in rows}
    recorded = {uuid.UUID(row.replay_id): int(row.n) for row in records}
    acknowledged = history.replay_ids
    lost = sum(
        1
        for replay_id in acknowledged
        if replay_id not in found
        or found[replay_id].status not in FINAL
        or recorded.get(replay_id, 0) == 0
    )
    corrupt = sum(
        1
        for row in rows
        if row.status in FINAL
        and (row.recorded != str(row.id) or (row.status == "succeeded" and row.exact != "true"))
    )
    mine = [found[r] for r in acknowledged if r in found]
    times = sorted(float(r.archive_s) for r in mine if r.status == "succeeded")
    return Verdict(
        scenario=scenario,
        jobs=len(acknowledged),
        faults=len(history.faults),
        lost=lost,
        duplicated=sum(n - 1 for n in recorded.values()),
        duplicate_executions=sum(max(0, r.attempts - 1) for r in mine),
        failed=sum(1 for r in mine if r.status == "failed"),
        corrupt=corrupt,
        unacknowledged=len(set(found) - set(acknowledged)),
        p95_archive_s=times[min(len(times) - 1, int(0.95 * len(times)))] if times else None,
        max_latency_s=max(history.latencies_s, default=0.0),
        statuses=dict(Counter(history.statuses)),
        seed=seed,
        versions=versions,
        kind="replays",
    )
