"""The worker's explain service run inside the test process (no broker, no pool): for tests
that need archived explanations but do not test the worker process itself."""

from __future__ import annotations

from pathlib import Path

from services.worker.context import ModelCache, WorkerContext
from shared.bundles.registry import Registry
from shared.db.engine import make_engine, make_session_factory
from shared.settings import Settings


def context_for(settings: Settings, bundles: Path) -> WorkerContext:
    engine = make_engine(settings.database_url)
    return WorkerContext(
        settings=settings,
        sessions=make_session_factory(engine),
        models=ModelCache(registry=Registry.scan(bundles), device="cpu", threads=1),
        device="cpu",
        name="test-worker",
    )
