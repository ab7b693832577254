"""The events stream over a subscription (no database): one ``job`` event per status change,
``done`` once every job is final, nothing after the timeout, the subscription closed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.api.explanations.events import prediction_events
from services.api.explanations.watch import JobState, JobWatch
from shared.db.models import JobStatus

JOB = uuid.UUID(int=1)
PREDICTION = uuid.UUID(int=2)


async def _no_changes(_: JobWatch) -> None:
    await asyncio.Event().wait()


def _run(coroutine: Coroutine[Any, Any, list[bytes]]) -> list[bytes]:
    """``asyncio.run`` on a thread of its own: the browser tests' sync Playwright leaves an event
    loop running on the main thread of the test session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _watch() -> JobWatch:
    return JobWatch(sessions=None, source=_no_changes)  # type: ignore[arg-type]


def _state(status: JobStatus, error: str | None = None) -> tuple[JobState, ...]:
    return (JobState(id=JOB, method="saliency", status=status, last_error=error),)


def _fields(event: bytes) -> dict[str, str]:
    """One encoded event (LF-separated lines, a blank line at the end) as its fields."""
    assert event.endswith(b"\n\n") and b"\r" not in event
    lines = event.decode().removesuffix("\n\n").split("\n")
    return dict(line.split(": ", 1) for line in lines)


async def _collect(stream: Any) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_each_change_once_then_done_and_the_subscription_closes() -> None:
    async def scenario() -> list[bytes]:
        watch = _watch()
        subscription = watch.subscribe(PREDICTION)
        stream = prediction_events(subscription, _state(JobStatus.queued))
        first = await anext(stream)
        subscription.offer(_state(JobStatus.queued))  # no change: no event
        subscription.offer(_state(JobStatus.running))  # newest wins
        rest: list[bytes] = [await anext(stream)]
        subscription.offer(_state(JobStatus.failed, "boom"))
        rest += await _collect(stream)
        assert watch.watched == []
        return [first, *rest]

    events = [_fields(e) for e in _run(scenario())]
    assert [e["event"] for e in events] == ["job"] * 3 + ["done"]
    assert [e["id"] for e in events[:3]] == [f"{JOB}:{s}" for s in ("queued", "running", "failed")]
    assert json.loads(events[2]["data"])["last_error"] == "boom"
    assert events[3] == {"event": "done", "data": "{}"}


def test_the_stream_ends_without_done_after_its_timeout() -> None:
    async def scenario() -> list[bytes]:
        watch = _watch()
        subscription = watch.subscribe(PREDICTION)
        stream = prediction_events(subscription, _state(JobStatus.queued), timeout_s=0.05)
        events = await asyncio.wait_for(_collect(stream), 5)
        assert watch.watched == []
        return events

    events = [_fields(e) for e in _run(scenario())]
    assert [e["event"] for e in events] == ["job"]
