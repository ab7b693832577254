"""The per-decision report (JSON and PDF) on real Postgres, of decisions made through the API
and explained by the worker's explain service in-process."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.api.app import create_app
from shared.db.models import (
    AccessLogEntry,
    AuditChainHead,
    AuditRecord,
    Blob,
    ClinicianFeedback,
    ExplanationJob,
    Prediction,
    Role,
)
from shared.methods import METHODS
from shared.settings import Settings
from tests.support import pdf
from tests.support.inprocess import archived_image_and_tabular, context_for
from tests.support.pdfa import pdfa_2b_problems
from tests.support.tokens import PURPOSE, Token, issue

REPORT = "/v1/audit/records/{}/report.{}"


@dataclass
class Decisions:
    client: TestClient
    sessions: sessionmaker[Session]
    tokens: dict[Role, Token]
    image: str  # explained by Integrated Gradients and Grad-CAM, then overridden
    tabular: str  # explained by TreeSHAP


@pytest.fixture(scope="module")
def decisions(pg_settings: Settings, bundles_dir: Path) -> Iterator[Decisions]:
    settings = pg_settings.model_copy(update={"broker_url": "memory://"})
    tokens = {role: issue(settings.database_url, role, f"report {role}") for role in Role}
    context = context_for(settings, bundles_dir)
    with TestClient(create_app(settings), headers=tokens[Role.clinician].headers) as client:
        image, tabular = archived_image_and_tabular(client, context, case_ref="case-report-1")
        other = next(
            label for label in ("normal", "pneumonia") if label != image["diagnosis"]["label"]
        )
        feedback = client.post(
            f"/v1/predictions/{image['id']}/feedback",
            json={
                "decision": "override",
                "corrected_label": other,
                "reason": "artefact at the rim",
            },
        )
        assert feedback.status_code == 201, feedback.text
        yield Decisions(client, context.sessions, tokens, image["id"], tabular["id"])
    context.sessions.kw["bind"].dispose()


def get(d: Decisions, prediction_id: str, kind: str, role: Role = Role.auditor) -> httpx.Response:
    return d.client.get(REPORT.format(prediction_id, kind), headers=d.tokens[role].headers)


def test_json_report_says_what_the_record_says(decisions: Decisions) -> None:
    response = get(decisions, decisions.image, "json")
    assert response.status_code == 200, response.text
    assert decisions.image in response.headers["content-disposition"]
    report = response.json()
    with decisions.sessions() as session:
        row = session.get(Prediction, uuid.UUID(decisions.image))
        assert row is not None
        prediction = report["prediction"]
        assert (prediction["label"], prediction["probability"]) == (row.label, row.probability)
        assert prediction["probabilities"] == row.probabilities
        assert prediction["model_sha256"] == row.model_sha256 == report["model_card"]["sha256"]
        assert prediction["input_sha256"] == row.input_sha256
        assert prediction["tensor_sha256"] == row.tensor_sha256
        assert prediction["preprocessing"] == row.preprocessing
        assert prediction["case_ref_hmac"] == row.case_ref_hmac is not None
        assert prediction["requested_by"] == decisions.tokens[Role.clinician].id
        assert prediction["requested_by_name"] == "report clinician"
        _check_explanations(session, row, report["explanations"])
        _check_feedback(session, row, report["feedback"])
        _check_chain(session, row, report["chain"])
    card = report["model_card"]
    assert card["served"] and card["labels"] == ["normal", "pneumonia"]
    assert card["input"]["height"] == 32 and card["default_methods"] == [
        "integrated_gradients",
        "gradcam",
    ]


def _check_explanations(session: Session, row: Prediction, listed: list[dict[str, Any]]) -> None:
    jobs = session.scalars(
        select(ExplanationJob).where(ExplanationJob.prediction_id == row.id)
    ).all()
    assert sorted(e["method"] for e in listed) == sorted(j.method for j in jobs)
    assert sorted(e["method"] for e in listed) == ["gradcam", "integrated_gradients"]
    for entry in listed:
        job = next(j for j in jobs if str(j.id) == entry["id"])
        result = job.result
        assert result is not None and entry["status"] == "succeeded"
        assert (entry["seed"], entry["target"], entry["device"]) == (job.seed, job.target, "cpu")
        assert entry["method_plain"] == METHODS[job.method].plain
        assert entry["target_label"] == row.label
        archived = entry["result"]
        assert archived["attributions"]["sha256"] == result.attributions_sha256
        assert archived["rendering"]["sha256"] == result.rendering_sha256
        assert archived["quality"] == result.quality
        assert set(archived["quality_readings"]) == set(result.quality)
        assert archived["library_versions"] == result.library_versions
    ig = next(e for e in listed if e["method"] == "integrated_gradients")["result"]
    assert "Completeness gap" in ig["quality_readings"]["completeness_delta"]
    assert "ONNX" in ig["quality_readings"]["parity_max_abs_diff"]


def _check_feedback(session: Session, row: Prediction, listed: list[dict[str, Any]]) -> None:
    (feedback,) = session.scalars(
        select(ClinicianFeedback).where(ClinicianFeedback.prediction_id == row.id)
    ).all()
    (entry,) = listed
    assert (entry["decision"], entry["corrected_label"], entry["reason"]) == (
        "override",
        feedback.corrected_label,
        "artefact at the rim",
    )
    assert (
        entry["audit_seq"] == feedback.audit_seq and entry["clinician_name"] == "report clinician"
    )


def _check_chain(session: Session, row: Prediction, chain: dict[str, Any]) -> None:
    records = session.scalars(
        select(AuditRecord).where(AuditRecord.subject_id == str(row.id)).order_by(AuditRecord.seq)
    ).all()
    listed = chain["records"]
    stored = [(r.seq, r.kind, r.hash, r.prev_hash, r.payload_sha256) for r in records]
    shown = [(e["seq"], e["kind"], e["hash"], e["prev_hash"], e["payload_sha256"]) for e in listed]
    assert shown == stored[: len(shown)]  # reads after this one append more access records
    kinds = [e["kind"] for e in listed]
    assert kinds[0] == "prediction" and kinds.count("explanation") == 2
    assert "feedback" in kinds and kinds[-1] == "access"  # this very read, logged before serving
    assert all(e["hash_ok"] for e in listed)
    head = chain["head"]
    assert head["seq"] >= listed[-1]["seq"]
    assert head["hash"] == session.scalar(
        select(AuditRecord.hash).where(AuditRecord.seq == head["seq"])
    )
    assert head["seq"] <= session.scalar(select(AuditChainHead.seq))


def test_pdf_report_is_readable_text_with_the_archived_renderings(decisions: Decisions) -> None:
    response = get(decisions, decisions.image, "pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment") and f"{decisions.image}.pdf" in disposition
    assert pdfa_2b_problems(response.content) == []  # archival: PDF/A-2b, as pypdf reads it
    reader, text = pdf.read(response.content)
    flat = pdf.squashed(text)
    with decisions.sessions() as session:
        row = session.get(Prediction, uuid.UUID(decisions.image))
        assert row is not None
        assert f"{row.label} (probability {row.probability:.4f})" in text
        for digest in (row.model_sha256, row.input_sha256, row.tensor_sha256):
            assert digest in flat
        for record in session.scalars(
            select(AuditRecord).where(
                AuditRecord.subject_id == str(row.id), AuditRecord.kind != "access"
            )
        ):
            assert record.hash in flat and record.prev_hash in flat
        renderings = [job.result.rendering_sha256 for job in row.jobs if job.result is not None]
        stored = {
            sha: np.asarray(Image.open(io.BytesIO(session.get(Blob, sha).data)).convert("RGB"))
            for sha in renderings
        }
    assert pdf.squashed(METHODS["gradcam"].plain) in flat
    assert "artefact at the rim" in text
    embedded = pdf.embedded_images(reader)
    assert len(embedded) == len(stored) == 2
    for sha, expected in stored.items():  # the archived overlays, pixel for pixel
        assert sha in flat
        assert any(e.shape == expected.shape and np.array_equal(e, expected) for e in embedded)


def test_tabular_report_lists_the_top_features_and_embeds_the_waterfall(
    decisions: Decisions,
) -> None:
    report = get(decisions, decisions.tabular, "json").json()
    (explanation,) = report["explanations"]
    top = explanation["result"]["summary"]["top_features"]
    assert explanation["method"] == "tree_shap" and len(top) == 11  # 10 and "20 other features"
    assert "additivity_error" in explanation["result"]["quality_readings"]
    assert report["feedback"] == []
    document = get(decisions, decisions.tabular, "pdf").content
    assert pdfa_2b_problems(document) == []
    reader, text = pdf.read(document)
    assert top[0]["name"] in text and "No clinician feedback" in text
    assert len(pdf.embedded_images(reader)) == 1


def test_a_bundle_no_longer_served_keeps_the_recorded_fields(
    decisions: Decisions, pg_settings: Settings, tmp_path: Path
) -> None:
    settings = pg_settings.model_copy(update={"broker_url": "memory://", "bundles_dir": tmp_path})
    headers = decisions.tokens[Role.auditor].headers
    with TestClient(create_app(settings), headers=headers) as client:
        response = client.get(REPORT.format(decisions.image, "json"))
        assert response.status_code == 200, response.text
        card = response.json()["model_card"]
        document = client.get(REPORT.format(decisions.image, "pdf"))
    assert card["served"] is False and "no longer served" in card["note"]
    assert card["name"] == "tiny-cnn" and len(card["sha256"]) == 64
    assert "no longer served" in pdf.read(document.content)[1]


@pytest.mark.parametrize("kind", ["json", "pdf"])
def test_only_auditors_who_state_a_purpose_read_reports(decisions: Decisions, kind: str) -> None:
    url = REPORT.format(decisions.image, kind)
    with TestClient(decisions.client.app) as anonymous:
        response = anonymous.get(url)
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")
    for role in (Role.clinician, Role.ops):
        response = get(decisions, decisions.image, kind, role)
        assert response.status_code == 403, (role, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    auditor = decisions.tokens[Role.auditor]
    no_purpose = {"Authorization": f"Bearer {auditor.plaintext}"}
    before = _reads(decisions, auditor, decisions.image)
    response = decisions.client.get(url, headers=no_purpose)
    assert (
        response.status_code == 422 and response.json()["errors"][0]["field"] == "X-Audit-Purpose"
    )
    assert _reads(decisions, auditor, decisions.image) == before  # refused, so nothing was read
    unknown = str(uuid.uuid4())
    response = get(decisions, unknown, kind)
    assert (
        response.status_code == 404
        and response.headers["content-type"] == "application/problem+json"
    )


@pytest.mark.parametrize("kind", ["json", "pdf"])
def test_every_auditor_read_is_in_the_access_log(decisions: Decisions, kind: str) -> None:
    auditor = decisions.tokens[Role.auditor]
    before = _reads(decisions, auditor, decisions.tabular)
    for _ in range(2):
        assert get(decisions, decisions.tabular, kind).status_code == 200
    with decisions.sessions() as session:
        entries = session.scalars(
            select(AccessLogEntry)
            .where(AccessLogEntry.subject_id == decisions.tabular)
            .order_by(AccessLogEntry.created_at)
        ).all()
        assert len(entries) == before + 2
        last = entries[-1]
        assert last.action == f"GET /v1/audit/records/{{prediction_id}}/report.{kind}"
        assert (last.purpose, str(last.token_id), last.role) == (PURPOSE, auditor.id, "auditor")
        record = session.get(AuditRecord, last.audit_seq)
        assert record is not None and record.kind == "access"
        assert record.subject_id == decisions.tabular


def _reads(decisions: Decisions, auditor: Token, subject: str) -> int:
    with decisions.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AccessLogEntry)
                .where(
                    AccessLogEntry.subject_id == subject,
                    AccessLogEntry.token_id == uuid.UUID(auditor.id),
                )
            )
            or 0
        )
