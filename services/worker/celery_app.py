"""The Celery app of the explanation worker. Postgres holds results: no result backend.

The app object is cheap to create; engines, ORT sessions and torch twins are made per worker
process on first use (:mod:`services.worker.context`), never in the parent, never across a fork.
"""

from __future__ import annotations

import socket

from celery import Celery
from celery.signals import worker_init

from shared.contracts import EXPLAIN_QUEUE
from shared.settings import Settings

app = Celery("xai-worker", set_as_current=False)


def configure(settings: Settings) -> Celery:
    if settings.job_time_limit_s >= settings.broker_visibility_timeout_s:
        raise ValueError(
            "job_time_limit_s must stay below broker_visibility_timeout_s, or the "
            "broker redelivers jobs that are still running"
        )
    if settings.broker_url.startswith("sqla+"):
        from kombu.transport.sqlalchemy import Transport

        # Must be set on the class: passing it in broker_transport_options breaks create_engine.
        Transport.polling_interval = 0.2
        transport_options: dict[str, object] = {}
    else:
        transport_options = {"visibility_timeout": settings.broker_visibility_timeout_s}
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        # A broker outage never ends the worker: it reconnects for as long as it takes.
        broker_connection_max_retries=None,
        # A job running when the broker connection drops finishes and archives (its ack is
        # lost, the redelivery finds the job final); cancelling it would only waste the work.
        # Pinned because Celery 6 flips the default.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.job_time_limit_s,
        task_soft_time_limit=max(1, settings.job_time_limit_s - 15),
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=EXPLAIN_QUEUE,
        worker_send_task_events=False,
        worker_max_tasks_per_child=500,
    )
    import services.worker.tasks  # noqa: F401  registers the tasks on ``app``

    return app


@worker_init.connect
def _preload(**_: object) -> None:
    """In the worker's main process, before it forks the pool (see ``preload_libraries``)."""
    from services.worker.context import preload_libraries

    preload_libraries()


def start_worker(settings: Settings) -> None:
    configure(settings).worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={settings.worker_concurrency}",
            "--pool=prefork",
            f"--queues={EXPLAIN_QUEUE}",
            f"--hostname=xai@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
