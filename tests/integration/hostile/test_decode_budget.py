"""The decode memory budget of the API (``decode_memory_budget_mb``): with every share held, an
image upload waits briefly, then gets 503 problem+json with Retry-After and leaves no record;
once a share is free the same upload is diagnosed. The real app on Postgres and Redis."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.api.app import create_app
from services.api.core.limits import DECODE_SHARE_MB, DECODE_WAIT_S, DecodeBudget
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import Prediction, Role
from shared.settings import Settings
from tests.support import inputs
from tests.support.tokens import Token


def test_an_upload_past_the_memory_budget_gets_503_with_retry_after(
    pg_settings: Settings, tokens: dict[Role, Token]
) -> None:
    settings = pg_settings.model_copy(update={"decode_memory_budget_mb": 2 * DECODE_SHARE_MB})
    upload = {"files": {"file": ("x.png", inputs.gray_png())}, "data": {"model": "tiny-cnn"}}
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        with TestClient(create_app(settings), headers=tokens[Role.clinician].headers) as client:
            assert client.post("/v1/predictions", **upload).status_code == 201
            budget = DecodeBudget.of(client.app)  # type: ignore[arg-type]
            assert budget.shares == 2
            with budget.share(), budget.share():  # two decodes in flight
                before = _predictions(sessions)
                started = time.monotonic()
                busy = client.post("/v1/predictions", **upload)
                waited = time.monotonic() - started
                assert busy.status_code == 503, busy.text
                assert busy.headers["retry-after"] == "2"
                assert busy.headers["content-type"] == "application/problem+json"
                assert "memory budget of 128 MiB" in busy.json()["detail"]
                assert DECODE_WAIT_S <= waited < DECODE_WAIT_S + 5
                assert _predictions(sessions) == before
                tabular = client.post(
                    "/v1/predictions", json={"model": "tiny-gbt", "features": _case()}
                )
                assert tabular.status_code == 201, "a tabular case decodes no image"
            assert client.post("/v1/predictions", **upload).status_code == 201
    finally:
        engine.dispose()


def _predictions(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def _case() -> dict[str, float]:
    from tests.support.bundles import breast_cancer_case

    return breast_cancer_case(1)
