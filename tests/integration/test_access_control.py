"""Who may call what, on real Postgres: every route × every role, no token, a bad token, a
revoked token, and a clinician reaching for another clinician's case.

The matrix is checked against the app's own route table: a new route without an entry in
``ACCESS`` fails this test, so nothing ships unguarded by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from shared.auth.tokens import revoke
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import AccessLogEntry, AuditRecord, Prediction, Role
from shared.settings import Settings
from tests.support.bundles import breast_cancer_case
from tests.support.inprocess import archived_image_and_tabular, context_for
from tests.support.tokens import Token, issue

CLINICIAN, AUDITOR, OPS = Role.clinician, Role.auditor, Role.ops
EVERYONE = frozenset(Role)

# (method, path) -> the roles allowed; every other role gets 403, no token 401.
ACCESS: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/v1/predictions"): frozenset({CLINICIAN}),
    ("GET", "/v1/predictions/{prediction_id}"): frozenset({CLINICIAN, AUDITOR}),
    ("GET", "/v1/predictions/{prediction_id}/events"): frozenset({CLINICIAN}),
    ("POST", "/v1/predictions/{prediction_id}/feedback"): frozenset({CLINICIAN}),
    ("GET", "/v1/explanations/{job_id}"): frozenset({CLINICIAN, AUDITOR}),
    ("GET", "/v1/explanations/{job_id}/heatmap.png"): frozenset({CLINICIAN, AUDITOR}),
    ("GET", "/v1/explanations/{job_id}/waterfall.png"): frozenset({CLINICIAN, AUDITOR}),
    ("GET", "/v1/explanations/{job_id}/attributions"): frozenset({CLINICIAN, AUDITOR}),
    ("GET", "/v1/models"): EVERYONE,
    ("GET", "/v1/models/rejected"): EVERYONE,
    ("GET", "/v1/models/{name}/{version}"): EVERYONE,
    ("GET", "/v1/methods"): EVERYONE,
    ("GET", "/v1/models/{name}/{version}/summary.png"): frozenset({AUDITOR, OPS}),
    ("GET", "/v1/ops/status"): frozenset({OPS}),
    ("POST", "/v1/ops/checkpoints"): frozenset({OPS}),
    ("GET", "/metrics"): frozenset({OPS}),
    ("GET", "/v1/audit/records"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/records/{prediction_id}"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/records/{prediction_id}/input"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/records/{prediction_id}/report.json"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/records/{prediction_id}/report.pdf"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/verify"): frozenset({AUDITOR}),
    ("POST", "/v1/audit/verify"): frozenset({AUDITOR}),
    ("POST", "/v1/audit/replays"): frozenset({AUDITOR}),
    ("GET", "/v1/audit/replays/{replay_id}"): frozenset({AUDITOR}),
}
OPEN = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/"),
    ("GET", "/ops"),
    ("GET", "/audit"),
    ("GET", "/static/{path}"),
}


@dataclass
class Case:
    """A clinician's archived image and tabular decisions, and who else holds tokens."""

    client: TestClient
    tokens: dict[Role, Token]
    other_clinician: Token
    image_id: str
    image_job: str
    tabular_id: str
    tabular_job: str
    replay_id: str
    checkpoint: dict[str, Any]


@pytest.fixture(scope="module")
def case(pg_settings: Settings, bundles_dir: Path) -> Iterator[Case]:
    settings = pg_settings.model_copy(update={"broker_url": "memory://"})
    tokens = {role: issue(settings.database_url, role, f"matrix {role}") for role in Role}
    other = issue(settings.database_url, CLINICIAN, "another clinician")
    context = context_for(settings, bundles_dir)
    with TestClient(create_app(settings), headers=tokens[CLINICIAN].headers) as client:
        image, tabular = archived_image_and_tabular(client, context, methods="saliency")
        auditor = tokens[AUDITOR].headers
        replay = client.post(
            "/v1/audit/replays",
            json={"explanation_id": image["explanations"][0]["id"]},
            headers=auditor,
        )
        assert replay.status_code == 202, replay.text
        checkpoint = client.post("/v1/ops/checkpoints", headers=tokens[OPS].headers)
        assert checkpoint.status_code == 201, checkpoint.text
        yield Case(
            client=client,
            tokens=tokens,
            other_clinician=other,
            image_id=image["id"],
            image_job=image["explanations"][0]["id"],
            tabular_id=tabular["id"],
            tabular_job=tabular["explanations"][0]["id"],
            replay_id=replay.json()["id"],
            checkpoint=checkpoint.json(),
        )
    context.sessions.kw["bind"].dispose()


def request_for(case: Case, method: str, path: str) -> tuple[str, dict[str, Any], int]:
    """A valid request on ``path`` and the status it earns when the role is allowed."""
    values = {
        "prediction_id": case.image_id,
        "job_id": case.image_job,
        "replay_id": case.replay_id,
        "name": "tiny-gbt",
        "version": "v1",
    }
    url = path.format(**values)
    kwargs: dict[str, Any] = {}
    ok = 200
    if path.endswith("waterfall.png"):
        url = path.format(**{**values, "job_id": case.tabular_job})
    elif (method, path) == ("POST", "/v1/predictions"):
        kwargs["json"] = {
            "model": "tiny-gbt",
            "features": breast_cancer_case(1),
            "methods": ["tree_shap"],
        }
        ok = 201
    elif path.endswith("/feedback"):
        kwargs["json"] = {"decision": "accept"}
        ok = 201
    elif (method, path) == ("POST", "/v1/ops/checkpoints"):
        ok = 201
    elif (method, path) == ("POST", "/v1/audit/verify"):
        kwargs["json"] = case.checkpoint
    elif (method, path) == ("POST", "/v1/audit/replays"):
        kwargs["json"] = {"explanation_id": case.image_job}
        ok = 202
    return url, kwargs, ok


def guarded_routes() -> set[tuple[str, str]]:
    """Every documented operation but the open ones (the pages and static files are not in the
    schema, and carry no data)."""
    schema = create_app(Settings(case_ref_key="x" * 32)).openapi()  # type: ignore[call-arg]
    routes = {(m.upper(), path) for path, ops in schema["paths"].items() for m in ops}
    return routes - OPEN


def test_every_route_is_in_the_matrix() -> None:
    routes = guarded_routes()
    assert routes == set(ACCESS), (
        f"unlisted: {sorted(routes - set(ACCESS))}; gone: {sorted(set(ACCESS) - routes)}"
    )


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_route_by_role_matrix(case: Case, role: Role) -> None:
    failures = []
    for (method, path), allowed in sorted(ACCESS.items()):
        url, kwargs, ok = request_for(case, method, path)
        response = case.client.request(method, url, headers=case.tokens[role].headers, **kwargs)
        expected = ok if role in allowed else 403
        if response.status_code != expected:
            failures.append(f"{method} {path}: {response.status_code} != {expected}")
        elif expected == 403:
            assert response.headers["content-type"] == "application/problem+json"
            assert str(role) in response.json()["detail"]
    assert not failures, failures


@pytest.mark.parametrize(
    "authorization", [None, "Bearer xai_not-a-token", "Basic dXNlcjpwYXNz", "Bearer "]
)
def test_no_valid_token_is_401_everywhere(case: Case, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in sorted(ACCESS):
        url, kwargs, _ = request_for(case, method, path)
        with TestClient(case.client.app) as anonymous:
            response = anonymous.request(method, url, headers=headers, **kwargs)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["title"] == "Unauthorized"


def test_open_routes_need_no_token(case: Case) -> None:
    with TestClient(case.client.app) as anonymous:
        for url in ("/healthz", "/readyz", "/", "/ops", "/audit", "/openapi.json"):
            assert anonymous.get(url).status_code == 200, url


def test_a_revoked_token_is_refused_at_once(pg_settings: Settings, case: Case) -> None:
    token = issue(pg_settings.database_url, OPS, "to be revoked")
    assert case.client.get("/v1/ops/status", headers=token.headers).status_code == 200
    engine = make_engine(pg_settings.database_url)
    with make_session_factory(engine).begin() as session:
        assert revoke(session, uuid.UUID(token.id))
    engine.dispose()
    assert case.client.get("/v1/ops/status", headers=token.headers).status_code == 401


def test_a_clinician_cannot_reach_another_clinicians_case(case: Case) -> None:
    """Another clinician's case answers exactly like an unknown id (404): ids reveal nothing."""
    other = case.other_clinician.headers
    base_p, base_j = f"/v1/predictions/{case.image_id}", f"/v1/explanations/{case.image_job}"
    for method, url, body in [
        ("GET", base_p, None),
        ("GET", f"{base_p}/events", None),
        ("POST", f"{base_p}/feedback", {"decision": "accept"}),
        ("GET", base_j, None),
        ("GET", f"{base_j}/heatmap.png", None),
        ("GET", f"{base_j}/heatmap.png?cmap=viridis", None),
        ("GET", f"{base_j}/attributions", None),
        ("GET", f"/v1/explanations/{case.tabular_job}/waterfall.png", None),
    ]:
        response = case.client.request(method, url, headers=other, json=body)
        unknown = case.client.request(
            method, url.replace(case.image_id, str(uuid.uuid4())), headers=other, json=body
        )
        assert response.status_code == 404, (url, response.text)
        assert response.json()["title"] == unknown.json()["title"] == "Not found"
    # ... and the owner still reads it
    assert case.client.get(base_p).status_code == 200
    events = case.client.get(f"{base_p}/events?token={case.tokens[CLINICIAN].plaintext}")
    assert events.status_code == 200 and "event: done" in events.text


def test_the_events_stream_takes_a_query_token_and_nothing_else_does(case: Case) -> None:
    query = f"token={case.tokens[CLINICIAN].plaintext}"
    with TestClient(case.client.app) as anonymous:
        events = anonymous.get(f"/v1/predictions/{case.image_id}/events?{query}")
        assert events.status_code == 200 and "event: done" in events.text
        assert anonymous.get(f"/v1/predictions/{case.image_id}?{query}").status_code == 401
        bad = anonymous.get(f"/v1/predictions/{case.image_id}/events?token=xai_forged")
        assert bad.status_code == 401


def test_predictions_record_the_requesting_token(pg_settings: Settings, case: Case) -> None:
    engine = make_engine(pg_settings.database_url)
    with make_session_factory(engine)() as session:
        prediction = session.get(Prediction, uuid.UUID(case.image_id))
        assert prediction is not None
        assert prediction.requested_by == case.tokens[CLINICIAN].id
    engine.dispose()


def test_an_idempotency_key_is_not_shared_between_clinicians(case: Case) -> None:
    body = {"model": "tiny-gbt", "features": breast_cancer_case(2), "methods": ["tree_shap"]}
    key = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    first = case.client.post("/v1/predictions", json=body, headers=key)
    assert first.status_code == 201
    other = case.client.post(
        "/v1/predictions", json=body, headers={**key, **case.other_clinician.headers}
    )
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert first.json()["id"] not in other.text


def test_every_auditor_read_is_logged_with_its_purpose_first(
    pg_settings: Settings, case: Case
) -> None:
    auditor = case.tokens[AUDITOR]
    url = f"/v1/predictions/{case.tabular_id}"
    no_purpose = {"Authorization": f"Bearer {auditor.plaintext}"}
    refused = case.client.get(url, headers=no_purpose)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "X-Audit-Purpose"
    engine = make_engine(pg_settings.database_url)
    sessions = make_session_factory(engine)

    def logged() -> list[AccessLogEntry]:
        with sessions() as session:
            return list(
                session.scalars(
                    select(AccessLogEntry).where(AccessLogEntry.subject_id == case.tabular_id)
                )
            )

    assert logged() == []  # the refused read left no trace and served nothing
    purpose = {**no_purpose, "X-Audit-Purpose": "complaint 2026-114: review of the decision"}
    assert case.client.get(url, headers=purpose).status_code == 200
    (entry,) = logged()
    assert entry.token_id == uuid.UUID(auditor.id)
    assert entry.action == "GET /v1/predictions/{prediction_id}"
    assert entry.purpose == "complaint 2026-114: review of the decision"
    with sessions() as session:
        record = session.get(AuditRecord, entry.audit_seq)
        assert record is not None and record.kind == "access"
        assert record.subject_id == case.tabular_id
    engine.dispose()
