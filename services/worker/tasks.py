"""Celery tasks: thin. A task receives an id, validates the message and calls one service."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError

from services.worker.celery_app import app
from services.worker.context import get_context
from services.worker.explain import TransientError, run_job
from services.worker.replay import run_replay
from shared.contracts import EXPLAIN_TASK, REPLAY_TASK, ExplainMessage, ReplayMessage

log = logging.getLogger(__name__)
MAX_RETRIES = 5


@app.task(name=EXPLAIN_TASK, bind=True, max_retries=MAX_RETRIES)
def explain_job(self: Any, **body: Any) -> None:
    message = ExplainMessage.model_validate(body)
    _retrying(
        self, f"job {message.job_id}", lambda: run_job(job_id=message.job_id, context=get_context())
    )


@app.task(name=REPLAY_TASK, bind=True, max_retries=MAX_RETRIES)
def replay(self: Any, **body: Any) -> None:
    message = ReplayMessage.model_validate(body)
    _retrying(
        self,
        f"replay {message.replay_id}",
        lambda: run_replay(replay_id=message.replay_id, context=get_context()),
    )


def _retrying(task: Any, what: str, run: Callable[[], None]) -> None:
    """Run; on a database outage, retry the task with a capped exponential backoff."""
    try:
        run()
    except (TransientError, OperationalError) as exc:
        countdown = min(60, 2**task.request.retries)
        log.warning("%s: transient error, retry in %ss: %s", what, countdown, exc)
        raise task.retry(exc=exc, countdown=countdown) from exc
