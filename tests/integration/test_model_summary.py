"""The model summary reads each archived result's blobs once per process: a second request
reads no blob, a new result costs the reads of its own two blobs, and the PNG is the one a
cold process draws from the same archive."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from services.api.app import create_app
from services.api.models.summary import SummaryCache
from services.worker.context import WorkerContext
from services.worker.explain import run_job
from shared.db.models import Role
from shared.settings import Settings
from tests.support.bundles import breast_cancer_case
from tests.support.inprocess import context_for
from tests.support.tokens import Token

SUMMARY = "/v1/models/tiny-gbt/v1/summary.png"


@dataclass
class BlobReads:
    """Statements that read the ``blobs`` table, and how many hashes they asked for."""

    statements: int = 0
    hashes: int = 0
    seen: list[str] = field(default_factory=list)

    def __call__(self, _conn, _cursor, statement: str, parameters, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM blobs" in statement:
            self.statements += 1
            self.hashes += len(parameters) if isinstance(parameters, dict | list | tuple) else 1


@pytest.fixture
def api(pg_settings: Settings) -> Iterator[tuple[TestClient, BlobReads]]:
    reads = BlobReads()
    with TestClient(create_app(pg_settings)) as client:
        engine = client.app.state.xai.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", reads)
        yield client, reads
        event.remove(engine, "before_cursor_execute", reads)


@pytest.fixture
def worker(pg_settings: Settings) -> WorkerContext:
    assert pg_settings.bundles_dir is not None
    return context_for(pg_settings, pg_settings.bundles_dir)


def _archive_tree_shap(
    client: TestClient, worker: WorkerContext, clinician: Token, case: int
) -> None:
    body = client.post(
        "/v1/predictions",
        json={"model": "tiny-gbt", "features": breast_cancer_case(case), "methods": ["tree_shap"]},
        headers=clinician.headers,
    ).json()
    (job,) = body["explanations"]
    run_job(job_id=uuid.UUID(job["id"]), context=worker)


def test_a_second_summary_reads_no_blob_and_draws_the_same_png(
    api: tuple[TestClient, BlobReads], worker: WorkerContext, tokens: dict[Role, Token]
) -> None:
    client, reads = api
    auditor = tokens[Role.auditor].headers
    for case in (11, 12, 13):
        _archive_tree_shap(client, worker, tokens[Role.clinician], case)

    first = client.get(SUMMARY, headers=auditor)
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")
    assert reads.statements >= 1 and reads.hashes >= 2 * 3

    before = reads.statements
    again = client.get(SUMMARY, headers=auditor)
    bar = client.get(SUMMARY, params={"kind": "bar"}, headers=auditor)
    assert again.content == first.content
    assert bar.status_code == 200 and bar.content != first.content
    assert reads.statements == before, "no blob read while no result is new"

    _archive_tree_shap(client, worker, tokens[Role.clinician], 14)
    before, hashes = reads.statements, reads.hashes
    third = client.get(SUMMARY, headers=auditor)
    assert third.status_code == 200 and third.content != first.content
    assert (reads.statements - before, reads.hashes - hashes) == (1, 2), "the new result's two"

    client.app.state.xai.summaries = SummaryCache()  # type: ignore[attr-defined]
    cold = client.get(SUMMARY, headers=auditor)
    assert cold.content == third.content
