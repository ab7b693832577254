"""The system under test as real processes, a client that records a history, and a nemesis.

``xai serve``, ``xai worker`` and ``xai reconciler`` run against a fresh Postgres database and a
private Redis that the nemesis may kill, freeze or restart. Settings are shortened (lease,
requeue delay, reconcile interval) so that recovery takes seconds, not minutes.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from sqlalchemy import Engine, text

from shared.db.engine import make_engine
from shared.db.migrate import upgrade
from shared.db.models import Role
from shared.settings import Settings
from tests.conftest import make_settings
from tests.faults.checker import History, Verdict, check, settle
from tests.support import inputs, servers
from tests.support.bundles import breast_cancer_case
from tests.support.processes import Service, settings_env, wait_for
from tests.support.tokens import issue

FAULT_SETTINGS: dict[str, object] = {
    "publish_timeout_s": 0.5,
    "job_lease_s": 10,
    "requeue_after_s": 4.0,
    "reconcile_interval_s": 1.0,
    "job_time_limit_s": 60,
    "broker_visibility_timeout_s": 120,
    "worker_concurrency": 1,
    "worker_device": "cpu",
    "max_attempts": 5,
}
# (model, method): cheap jobs on the tiny bundles, every explainer family represented.
MIX = (
    ("tiny-cnn", "saliency"),
    ("tiny-gbt", "tree_shap"),
    ("tiny-cnn", "gradcam"),
    ("tiny-cnn", "integrated_gradients"),
)
STALL_S = 90.0  # no job final for this long while some are not: the rest count as lost
BREAST_CANCER_ROWS = 569  # scikit-learn's Wisconsin breast-cancer data; later requests wrap
IMAGES = [
    inputs.png_bytes(Image.fromarray((inputs.radiograph(32, seed=s) * 255).astype(np.uint8)))
    for s in range(8)
]


@dataclass
class FaultStack:
    settings: Settings
    redis: servers.RedisServer
    api: Service
    worker: Service
    reconciler: Service | None
    client: httpx.Client
    engine: Engine
    auditor: dict[str, str]  # an auditor's headers (the client's are a clinician's)

    def restart_worker(self) -> None:
        """SIGKILL the worker's whole process group (main process and pool), start anew."""
        self.worker.kill()
        self.worker.start()

    def kill_busy_pool_child(
        self,
        timeout: float,
        *,
        job_id: uuid.UUID | None = None,
        after_attempt: int = 0,
        table: str = "explanation_jobs",
    ) -> int:
        """SIGKILL the pool process working on a job (``job_id``, or any; a claim later than
        ``after_attempt``), or on a replay with ``table="replays"``; Celery's main process
        forks a new one. Returns the attempt killed, 0 if none within ``timeout``. Only a pool
        process that claimed work is known to be up: one killed while starting makes Celery
        quit ("Could not start worker processes").
        """
        query = f"SELECT worker, attempts FROM {table} WHERE status = 'running'"
        query += " AND attempts > :after" + (" AND id = :job_id" if job_id else "")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.engine.connect() as connection:
                claims = connection.execute(
                    text(query), {"after": after_attempt, "job_id": job_id}
                ).all()
            busy = {int(worker.rsplit(":", 1)[1]): attempt for worker, attempt in claims}
            for child in self.worker.children():
                if child in busy:
                    os.kill(child, signal.SIGKILL)
                    return busy[child]
            time.sleep(0.02)
        return 0

    def wait_worker_ready(self, timeout: float = 120) -> None:
        wait_for(
            lambda: bool(self.worker.children()), timeout=timeout, what="a worker pool process"
        )


@contextmanager
def fault_stack(
    *,
    admin_url: str,
    bundles: Path,
    logs: Path,
    reconciler: bool = True,
    **overrides: object,
) -> Iterator[FaultStack]:
    """A fresh database on ``admin_url``'s server, a private Redis, API, worker, reconciler."""
    with ExitStack() as stack:
        database = stack.enter_context(servers.fresh_database(admin_url))
        upgrade(database)
        clinician = issue(database, Role.clinician)
        auditor = issue(database, Role.auditor)
        redis = stack.enter_context(servers.private_redis())
        assert redis.process is not None, "the fault suite needs redis-server to run its own"
        port = servers.free_port()
        values = {**FAULT_SETTINGS, **overrides}
        settings = make_settings(
            database_url=database, broker_url=redis.url, bundles_dir=bundles, port=port, **values
        )
        env = settings_env(settings)
        logs.mkdir(parents=True, exist_ok=True)
        api = _service(stack, Service(["serve"], env, logs / "api.log"))
        worker = _service(stack, Service(["worker"], env, logs / "worker.log"))
        reconciling = (
            _service(stack, Service(["reconciler"], env, logs / "reconciler.log"))
            if reconciler
            else None
        )
        client = stack.enter_context(
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=clinician.headers)
        )
        engine = make_engine(database)
        stack.callback(engine.dispose)
        wait_for(lambda: _healthy(client), timeout=120, what="the API to start")
        fault = FaultStack(
            settings, redis, api, worker, reconciling, client, engine, auditor.headers
        )
        fault.wait_worker_ready()
        yield fault


def _service(stack: ExitStack, service: Service) -> Service:
    service.start()
    stack.callback(service.stop)
    return service


def _healthy(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


def predict(client: httpx.Client, history: History, index: int, model: str, method: str) -> int:
    """One prediction with one explanation job; the outcome goes to ``history``."""
    headers = {"Idempotency-Key": f"faults-{uuid.uuid4()}"}
    started = time.perf_counter()
    try:
        if model == "tiny-gbt":
            response = client.post(
                "/v1/predictions",
                json={
                    "model": model,
                    "methods": [method],
                    "features": breast_cancer_case(index % BREAST_CANCER_ROWS),
                },
                headers=headers,
            )
        else:
            response = client.post(
                "/v1/predictions",
                files={"file": ("x.png", IMAGES[index % len(IMAGES)])},
                data={"model": model, "methods": method},
                headers=headers,
            )
        status = response.status_code
    except httpx.TransportError:
        status = 0  # no answer within the client's timeout: a hang or a dropped connection
    elapsed = time.perf_counter() - started
    history.record(status, elapsed, response.json() if status == 201 else None)
    return status


def drive(
    client: httpx.Client,
    history: History,
    *,
    n: int,
    interval_s: float,
    during: threading.Thread | None = None,
) -> None:
    """Predictions at a steady pace until ``n`` are acknowledged (refusals, e.g. 503 while the
    database is down, do not count) and, with ``during``, until that thread (the nemesis) is
    done, so that every fault meets work in flight; at most ``5 n`` requests."""
    start = time.monotonic()
    acknowledged = 0
    for index in range(5 * n):
        acknowledged += predict(client, history, index, *MIX[index % len(MIX)]) == 201
        if acknowledged >= n and (during is None or not during.is_alive()):
            return
        time.sleep(max(0.0, start + (index + 1) * interval_s - time.monotonic()))


@contextmanager
def concurrently(nemesis: Callable[[], None]) -> Iterator[threading.Thread]:
    """Run ``nemesis`` in a thread while the block runs; wait for it and re-raise its error."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            nemesis()
        except BaseException as exc:  # surfaced in the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=run, name="nemesis", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=300)
    assert not thread.is_alive(), "the nemesis did not finish"
    if errors:
        raise errors[0]


def versions(engine: Engine) -> str:
    with engine.connect() as connection:
        postgres = connection.execute(text("SHOW server_version")).scalar_one()
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    redis_version = next((w.split("=")[1] for w in redis if w.startswith("v=")), "?")
    packages = ", ".join(f"{p} {version(p)}" for p in ("celery", "kombu", "redis"))
    return (
        f"python {platform.python_version()}, {packages}, redis-server {redis_version}, "
        f"postgres {postgres.split()[0]}"
    )


def run_scenario(
    stack: FaultStack,
    history: History,
    nemesis: Callable[[], None],
    *,
    scenario: str,
    seed: int,
    n: int,
    interval_s: float = 0.1,
    quiet_s: float | None = None,
) -> Verdict:
    """Send ``n`` predictions while ``nemesis`` injects its faults, wait until every
    acknowledged job is final or nothing moves for ``quiet_s`` (default :data:`STALL_S`),
    then check the archive."""
    with concurrently(nemesis) as nemesis_thread:
        drive(stack.client, history, n=n, interval_s=interval_s, during=nemesis_thread)
    # A backlog still draining is not loss: wait while jobs keep finishing, up to the cap.
    settle(stack.engine, history, timeout=120 if quiet_s else 900, quiet_s=quiet_s or STALL_S)
    return check(
        stack.engine, history, scenario=scenario, seed=seed, versions=versions(stack.engine)
    )


def archived_jobs(stack: FaultStack, mix: tuple[tuple[str, str], ...]) -> list[uuid.UUID]:
    """One prediction per (model, method) of ``mix``, explained and archived: what replays
    recompute."""
    history = History()
    for index, (model, method) in enumerate(mix):
        assert predict(stack.client, history, index, model, method) == 201
    settle(stack.engine, history, timeout=120)
    with stack.engine.connect() as connection:
        done = connection.execute(
            text("SELECT count(*) FROM explanation_jobs WHERE status = 'succeeded'")
        ).scalar_one()
    assert done == len(history.job_ids), "every job to replay is archived"
    return history.job_ids


def request_replay(stack: FaultStack, history: History, explanation_id: uuid.UUID) -> int:
    """``POST /v1/audit/replays`` as an auditor; the outcome goes to ``history``."""
    started = time.perf_counter()
    try:
        response = stack.client.post(
            "/v1/audit/replays",
            json={"explanation_id": str(explanation_id)},
            headers={**stack.auditor, "X-Audit-Purpose": "fault injection"},
        )
        status = response.status_code
    except httpx.TransportError:
        status = 0
    history.record_replay(
        status, time.perf_counter() - started, response.json() if status == 202 else None
    )
    return status
