"""Celery tasks: thin. A task receives an id, validates the message and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import OperationalError

from services.worker.celery_app import app
from services.worker.context import get_context
from services.worker.explain import TransientError, run_job
from shared.contracts import EXPLAIN_TASK, ExplainMessage

log = logging.getLogger(__name__)
MAX_RETRIES = 5


@app.task(name=EXPLAIN_TASK, bind=True, max_retries=MAX_RETRIES)
def explain_job(self: Any, **body: Any) -> None:
    message = ExplainMessage.model_validate(body)
    try:
        run_job(job_id=message.job_id, context=get_context())
    except (TransientError, OperationalError) as exc:
        countdown = min(60, 2**self.request.retries)
        log.warning("job %s: transient error, retry in %ss: %s", message.job_id, countdown, exc)
        raise self.retry(exc=exc, countdown=countdown) from exc
