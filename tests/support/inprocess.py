"""The worker's explain service run inside the test process (no broker, no pool): for tests
that need archived explanations but do not test the worker process itself."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.worker.context import ModelCache, WorkerContext
from services.worker.explain import run_job
from shared.bundles.registry import Registry
from shared.db.engine import make_engine, make_session_factory
from shared.settings import Settings
from tests.support import inputs
from tests.support.bundles import breast_cancer_case


def context_for(settings: Settings, bundles: Path) -> WorkerContext:
    engine = make_engine(settings.database_url)
    return WorkerContext(
        settings=settings,
        sessions=make_session_factory(engine),
        models=ModelCache(registry=Registry.scan(bundles), device="cpu", threads=1),
        device="cpu",
        name="test-worker",
    )


def archived_image_and_tabular(
    client: TestClient, context: WorkerContext, **image_fields: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tiny-cnn and a tiny-gbt (TreeSHAP) decision posted by ``client`` (a clinician), every
    explanation of both run here and archived: what read, access and report tests start from."""
    image = client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", **image_fields},
    )
    tabular = client.post(
        "/v1/predictions",
        json={"model": "tiny-gbt", "features": breast_cancer_case(0), "methods": ["tree_shap"]},
    )
    bodies = (image.json(), tabular.json())
    assert image.status_code == tabular.status_code == 201, bodies
    for body in bodies:
        for job in body["explanations"]:
            run_job(job_id=uuid.UUID(job["id"]), context=context)
    return bodies
