"""The auditor's API on real Postgres: search with every filter and stable pagination, one full
record, the archived input, chain verification (tampering found through HTTP), checkpoints
taken by ops and verified against by auditors, and clinician feedback joining the record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from services.api.app import create_app
from services.worker.explain import run_job
from shared.audit import read_typed
from shared.audit.formats import CURRENT
from shared.audit.formats.v2 import AccessV2
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import AuditRecord, Prediction, Role
from shared.hashing import sha256_hex
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support import inputs, servers
from tests.support.bundles import breast_cancer_case
from tests.support.inprocess import context_for
from tests.support.tokens import Token, issue_all


@dataclass
class Archive:
    client: TestClient
    settings: Settings
    tokens: dict[Role, Token]
    cases: list[dict[str, Any]]  # the clinician's POST responses, oldest first

    def search(self, **params: Any) -> list[str]:
        response = self.client.get("/v1/audit/records", params=params, headers=self.auditor)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    @property
    def auditor(self) -> dict[str, str]:
        return self.tokens[Role.auditor].headers


@pytest.fixture(scope="module")
def archive(pg_admin: str, bundles_dir: Path) -> Iterator[Archive]:
    """Six decisions: images and tabular cases, two case references, one explanation run."""
    with servers.fresh_database(pg_admin) as url:
        from shared.db.migrate import upgrade

        upgrade(url)
        settings = make_settings(database_url=url, broker_url="memory://", bundles_dir=bundles_dir)
        tokens = issue_all(url)
        with TestClient(create_app(settings), headers=tokens[Role.clinician].headers) as client:
            cases = []
            for i in range(6):
                if i % 2 == 0:
                    response = client.post(
                        "/v1/predictions",
                        files={"file": ("x.png", inputs.gray_png(60 + i))},
                        data={
                            "model": "tiny-cnn",
                            "methods": "saliency",
                            "case_ref": f"MRN-{i % 3}",
                        },
                    )
                else:
                    body = {"model": "tiny-gbt", "features": breast_cancer_case(i)}
                    response = client.post("/v1/predictions", json={**body, "case_ref": "MRN-9"})
                assert response.status_code == 201, response.text
                cases.append(response.json())
            context = context_for(settings, bundles_dir)
            run_job(job_id=uuid.UUID(cases[0]["explanations"][0]["id"]), context=context)
            context.sessions.kw["bind"].dispose()
            yield Archive(client=client, settings=settings, tokens=tokens, cases=cases)


def test_search_pages_are_stable_newest_first_and_complete(archive: Archive) -> None:
    everything = archive.search(limit=200)
    assert everything == [case["id"] for case in reversed(archive.cases)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4 if cursor is None else 2, **({"cursor": cursor} if cursor else {})}
        page = archive.client.get("/v1/audit/records", params=params, headers=archive.auditor)
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        if cursor is None:  # a decision recorded between pages does not shift later pages
            new = archive.client.post(
                "/v1/predictions",
                json={
                    "model": "tiny-gbt",
                    "features": breast_cancer_case(40),
                    "methods": ["tree_shap"],
                },
            )
            assert new.status_code == 201
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert archive.search(limit=200)[0] == new.json()["id"]
    archive.cases.append(new.json())


def test_every_filter_narrows_the_search(archive: Archive) -> None:
    images = [c["id"] for c in archive.cases if c["model"]["name"] == "tiny-cnn"]
    tabular = [c["id"] for c in archive.cases if c["model"]["name"] == "tiny-gbt"]
    assert sorted(archive.search(model="tiny-cnn")) == sorted(images)
    assert sorted(archive.search(model="tiny-gbt", version="v1")) == sorted(tabular)
    assert archive.search(model="tiny-gbt", version="v2") == []
    assert archive.search(method="saliency", status="succeeded") == [archive.cases[0]["id"]]
    assert sorted(archive.search(method="saliency", status="queued")) == sorted(images[1:])
    assert archive.search(case_ref="MRN-0") == [archive.cases[0]["id"]]
    assert sorted(archive.search(case_ref=" MRN-9 ")) == sorted(
        c["id"] for c in archive.cases[:6] if c["model"]["name"] == "tiny-gbt"
    )
    label = archive.cases[1]["diagnosis"]["label"]
    assert sorted(archive.search(label=label)) == sorted(
        c["id"] for c in archive.cases if c["diagnosis"]["label"] == label
    )
    first, third = archive.cases[0]["created_at"], archive.cases[2]["created_at"]
    window = archive.search(**{"from": first, "to": third})
    assert window == [archive.cases[1]["id"], archive.cases[0]["id"]]
    tomorrow = archive.client.get(
        "/v1/audit/records",
        params={"from": "2999-01-01T00:00:00Z"},
        headers=archive.auditor,
    )
    assert tomorrow.json() == {"items": [], "next_cursor": None}


def test_a_search_is_logged_with_its_filters_and_the_case_ref_only_as_its_hmac(
    archive: Archive,
) -> None:
    found = archive.search(case_ref="MRN-0", model="tiny-cnn")
    assert found == [archive.cases[0]["id"]]
    engine = make_engine(archive.settings.database_url)
    with make_session_factory(engine)() as session:
        last = session.scalar(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1))
        assert last is not None and last.kind == "access"
        payload = read_typed(session, last.seq)
        prediction = session.get(Prediction, uuid.UUID(found[0]))
        assert prediction is not None
    engine.dispose()
    assert isinstance(payload, AccessV2) and payload.action == "GET /v1/audit/records"
    assert payload.query == {
        "model": "tiny-cnn",
        "case_ref_hmac": prediction.case_ref_hmac,
    }
    assert b"MRN" not in payload.canonical()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),  # no zone: ambiguous
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_search_queries_name_the_field(
    archive: Archive, params: dict[str, Any], field: str
) -> None:
    response = archive.client.get("/v1/audit/records", params=params, headers=archive.auditor)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(field in e["field"] for e in response.json()["errors"]), response.json()


def test_a_full_record_binds_hashes_explanations_feedback_and_its_chain(archive: Archive) -> None:
    case = archive.cases[0]
    feedback = archive.client.post(
        f"/v1/predictions/{case['id']}/feedback",
        json={"decision": "accept", "reason": "matches the radiograph"},
    )
    assert feedback.status_code == 201, feedback.text
    record = archive.client.get(f"/v1/audit/records/{case['id']}", headers=archive.auditor)
    assert record.status_code == 200, record.text
    body = record.json()
    prediction = body["prediction"]
    assert prediction["model_sha256"] == case["model"]["sha256"]
    assert prediction["input_sha256"] == case["input"]["sha256"]
    assert prediction["requested_by"] == archive.tokens[Role.clinician].id
    assert prediction["case_ref_hmac"] and "MRN" not in str(body)
    (explanation,) = body["explanations"]
    assert explanation["status"] == "succeeded" and explanation["result"]["quality"]
    assert body["feedback"][0]["decision"] == "accept"
    assert body["feedback"][0]["audit_seq"] == feedback.json()["audit_seq"]
    kinds = [entry["kind"] for entry in body["chain"]]
    assert kinds[:2] == ["prediction", "explanation"] and "feedback" in kinds
    assert kinds[-1] == "access"  # this very read, logged before it was served
    seqs = [entry["seq"] for entry in body["chain"]]
    assert seqs == sorted(seqs)
    stored = archive.client.get(body["links"]["input"], headers=archive.auditor)
    assert stored.status_code == 200
    assert sha256_hex(stored.content) == prediction["input_sha256"]
    assert stored.headers["etag"] == f'"{prediction["input_sha256"]}"'
    assert (
        archive.client.get(f"/v1/audit/records/{uuid.uuid4()}", headers=archive.auditor).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"decision": "override", "corrected_label": "x", "reason": "r"}, 422, "corrected_label"),
        ({"decision": "override", "reason": "looks wrong"}, 422, "corrected_label"),
        ({"decision": "maybe"}, 422, "decision"),
        ({"decision": "accept", "corrected_label": "normal"}, 422, "corrected_label"),
        ({"decision": "accept", "extra": 1}, 422, "extra"),
        ({"decision": "accept", "reason": "x" * 2001}, 422, "reason"),
    ],
)
def test_bad_feedback_names_the_field_and_records_nothing(
    archive: Archive, body: dict[str, Any], status: int, field: str
) -> None:
    case = archive.cases[1]
    response = archive.client.post(f"/v1/predictions/{case['id']}/feedback", json=body)
    assert response.status_code == status, response.text
    assert any(field in e["field"] for e in response.json()["errors"]), response.json()
    record = archive.client.get(f"/v1/audit/records/{case['id']}", headers=archive.auditor)
    assert record.json()["feedback"] == []


def test_an_override_is_recorded_with_its_label_and_reason(archive: Archive) -> None:
    case = archive.cases[3]
    other = next(k for k in case["diagnosis"]["probabilities"] if k != case["diagnosis"]["label"])
    response = archive.client.post(
        f"/v1/predictions/{case['id']}/feedback",
        json={"decision": "override", "corrected_label": other, "reason": "biopsy result"},
    )
    assert response.status_code == 201, response.text
    record = archive.client.get(f"/v1/audit/records/{case['id']}", headers=archive.auditor).json()
    (entry,) = record["feedback"]
    assert (entry["decision"], entry["corrected_label"], entry["reason"]) == (
        "override",
        other,
        "biopsy result",
    )
    assert entry["clinician_token_id"] == archive.tokens[Role.clinician].id


def _superuser(settings: Settings, *statements: str) -> None:
    """An attacker with the database's superuser: triggers off, then edit."""
    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as session:
        session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            session.execute(text(statement))
    engine.dispose()


def test_verify_through_the_api_then_detect_tampering_and_truncation(archive: Archive) -> None:
    """Runs last in this module: it tampers with the module's database."""
    auditor, ops = archive.auditor, archive.tokens[Role.ops].headers
    ok = archive.client.get("/v1/audit/verify", headers=auditor).json()
    assert ok["ok"] and ok["checked"] == ok["head_seq"] > 10 and ok["blobs_checked"] > 0
    assert ok["rows_checked"] > 0 and sum(ok["formats"].values()) == ok["checked"]
    written_today = {kind: model.format_name() for kind, model in CURRENT.items()}
    assert set(ok["formats"]) <= set(written_today.values()), ok["formats"]
    checkpoint = archive.client.post("/v1/ops/checkpoints", headers=ops)
    assert checkpoint.status_code == 201
    saved = checkpoint.json()
    assert saved["format"] == "xai-audit-checkpoint/1" and saved["seq"] >= ok["head_seq"]
    against = archive.client.post("/v1/audit/verify", json=saved, headers=auditor).json()
    assert against["ok"], against
    ranged = archive.client.get(
        "/v1/audit/verify", params={"from_seq": 2, "to_seq": 5}, headers=auditor
    ).json()
    assert ranged["ok"] and ranged["checked"] == 4

    # a truncated tail (head counter wound back too) looks valid without the checkpoint
    keep = saved["seq"] - 3
    _superuser(
        archive.settings,
        f"DELETE FROM access_log WHERE audit_seq > {keep}",
        f"DELETE FROM audit_payloads WHERE seq > {keep}",
        f"DELETE FROM audit_records WHERE seq > {keep}",
        f"UPDATE audit_chain_head SET seq = {keep}",
    )
    assert archive.client.get("/v1/audit/verify", headers=auditor).json()["ok"]
    truncated = archive.client.post("/v1/audit/verify", json=saved, headers=auditor).json()
    assert not truncated["ok"] and truncated["reason"].startswith("truncated"), truncated
    malformed = archive.client.post(
        "/v1/audit/verify", json={**saved, "hash": "z" * 64}, headers=auditor
    )
    assert malformed.status_code == 422

    # one byte of one archived payload: the verifier names that record
    _superuser(
        archive.settings,
        "UPDATE audit_payloads SET payload = overlay(payload placing '~' from 3 for 1) "
        "WHERE seq = 3",
    )
    bad = archive.client.get("/v1/audit/verify", headers=auditor).json()
    assert (bad["ok"], bad["first_bad_seq"]) == (False, 3), bad
    assert archive.client.post("/v1/ops/checkpoints", headers=ops).status_code == 409
