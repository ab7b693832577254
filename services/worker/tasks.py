"""Celery tasks: thin. A task has a name, a retry/ack policy and one call into domain code.

Acks are late (:mod:`services.worker.celery_app`): the runner is idempotent. A database outage
(:class:`~services.worker.runner.TransientError`, or an ``OperationalError`` before the claim)
is retried by Celery with a capped, jittered exponential backoff; once the retries are spent
the row is still in the record, and the reconciler gives it to a worker again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from services.worker.celery_app import app
from services.worker.context import get_context
from services.worker.explain import run_job
from services.worker.replay import run_replay
from services.worker.runner import TransientError
from shared.contracts import EXPLAIN_TASK, REPLAY_TASK, ExplainMessage, ReplayMessage

RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": (TransientError, OperationalError),
    "max_retries": 6,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
}


@app.task(name=EXPLAIN_TASK, **RETRY_POLICY)
def explain_job(**body: Any) -> None:
    run_job(job_id=ExplainMessage.model_validate(body).job_id, context=get_context())


@app.task(name=REPLAY_TASK, **RETRY_POLICY)
def replay(**body: Any) -> None:
    run_replay(replay_id=ReplayMessage.model_validate(body).replay_id, context=get_context())
