"""The per-decision report for auditors: one JSON document, or its PDF.

The report is the decision's full record (:func:`services.api.audit.records.full_record`: the
prediction, every explanation, clinician feedback, the decision's audit-chain records) with
what a reader outside the team needs beside it: the model card of the bundle that decided, each
method and quality figure in plain words, the archived rendering of each explanation, the names
behind token ids, and the chain head at export time, so a printed report can still be checked
against the chain.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.audit.records import full_record
from services.api.audit.report_pdf import render_report_pdf
from shared.audit.admissions import admission_before
from shared.audit.chain import GENESIS_HASH, iso, read_formats, record_hash
from shared.bundles.registry import Registry, UnknownModel
from shared.db import repository
from shared.db.models import ApiToken, AuditChainHead, AuditRecord, ExplanationJob, Prediction
from shared.hashing import sha256_hex
from shared.methods import METHODS, quality_reading

REPORT_FORMAT = "xai-decision-report/1"


def decision_report(
    session: Session, registry: Registry, prediction_id: uuid.UUID, *, now: datetime | None = None
) -> dict[str, Any]:
    """The JSON-able report of one decision; ``NotFound`` for an unknown id."""
    record = full_record(session, prediction_id).model_dump(mode="json")
    prediction = session.get(Prediction, prediction_id)  # full_record loaded it: no query
    assert prediction is not None, "full_record found it"
    card = _model_card(registry, prediction)
    jobs = {str(job.id): job for job in prediction.jobs}
    formats = read_formats(session, [entry["seq"] for entry in record["chain"]])
    names = _token_names(
        session, [prediction.requested_by, *(f["clinician_token_id"] for f in record["feedback"])]
    )
    return {
        "format": REPORT_FORMAT,
        "generated_at": iso(now or datetime.now(UTC)),
        "prediction": {
            **record["prediction"],
            "requested_by_name": names.get(prediction.requested_by or ""),
        },
        "model_card": card,
        "admission": _admission(session, prediction),
        "explanations": [
            _explanation(out, jobs[out["id"]], card.get("labels", []))
            for out in record["explanations"]
        ],
        "feedback": [
            {**entry, "clinician_name": names.get(entry["clinician_token_id"])}
            for entry in record["feedback"]
        ],
        "chain": {
            "records": [
                {**_checked(entry, str(prediction.id)), "format": formats.get(entry["seq"])}
                for entry in record["chain"]
            ],
            "head": _head(session),
        },
        "links": record["links"],
    }


def decision_report_pdf(
    session: Session, registry: Registry, prediction_id: uuid.UUID, *, now: datetime | None = None
) -> bytes:
    """The report as an A4 PDF, with each explanation's archived rendering."""
    report = decision_report(session, registry, prediction_id, now=now)
    return render_report_pdf(report, renderings=_renderings(session, report))


def _renderings(session: Session, report: dict[str, Any]) -> dict[str, bytes]:
    """Archived renderings by SHA-256; a blob whose bytes no longer match is left out."""
    found: dict[str, bytes] = {}
    for explanation in report["explanations"]:
        rendering = (explanation["result"] or {}).get("rendering")
        if rendering is None:
            continue
        blob = repository.get_blob(session, rendering["sha256"])
        if blob is not None and sha256_hex(blob.data) == rendering["sha256"]:
            found[rendering["sha256"]] = blob.data
    return found


def _token_names(session: Session, ids: list[str | None]) -> dict[str, str]:
    keys = set()
    for value in ids:
        try:
            keys.add(uuid.UUID(str(value)))
        except ValueError:
            continue  # no token behind it (None, or a name from before tokens)
    if not keys:
        return {}
    rows = session.execute(select(ApiToken.id, ApiToken.name).where(ApiToken.id.in_(keys)))
    return {str(token_id): name for token_id, name in rows}


def _model_card(registry: Registry, prediction: Prediction) -> dict[str, Any]:
    """The manifest of the bundle that decided; the recorded identity alone if it is gone."""
    recorded = {
        "name": prediction.model_name,
        "version": prediction.model_version,
        "sha256": prediction.model_sha256,
    }
    try:
        manifest = registry.get_by_sha256(**recorded).manifest
    except UnknownModel as exc:
        note = f"this bundle is no longer served ({exc}); only the recorded fields are shown"
        return {**recorded, "served": False, "note": note}
    output = manifest.output
    return {
        **recorded,
        "served": True,
        "note": None,
        "task": manifest.task,
        "model_family": manifest.model_family,
        "description": manifest.description,
        "labels": list(output.labels),
        "output_mode": output.mode,
        "positive_label": output.labels[output.positive_index]
        if output.mode == "single-label"
        else None,
        "input": manifest.input.model_dump(mode="json"),
        "default_methods": list(manifest.explanations.default_methods),
        "card": manifest.model_card,
    }


def _admission(session: Session, prediction: Prediction) -> dict[str, Any]:
    """How the deciding model was admitted: its latest admission record in the chain before the
    decision, with the report that record's blob holds."""
    record = admission_before(session, prediction.model_sha256, prediction.created_at)
    if record is None:
        return {
            "recorded": False,
            "note": "the chain holds no admission record of this model before this decision "
            "(it was served without an admission report, or before 0.3.0 recorded them)",
        }
    payload, report = record.payload, record.report
    admission: dict[str, Any] = {
        "recorded": True,
        "note": None,
        "seq": record.seq,
        "recorded_at": iso(record.created_at),
        "format": payload.format_name(),
        "manifest_sha256": payload.manifest_sha256,
        "report_sha256": payload.report_sha256,
        "passed": payload.passed,
        "admitted_at": payload.admitted_at,
        "available_methods": payload.available_methods,
        "unavailable_methods": payload.unavailable_methods,
    }
    if report is None:
        admission["note"] = (
            "the archived report is missing or no longer matches its SHA-256 "
            "(GET /v1/audit/verify names the record)"
        )
        return admission
    return {
        **admission,
        "steps": [
            {"step": s.step, "ok": s.ok, "detail": s.detail, "ms": s.ms} for s in report.steps
        ],
        "methods": [m.model_dump(mode="json") for m in report.methods],
        "parity": report.parity,
        "probes": report.probes,
        "seed": report.seed,
        "library_versions": report.library_versions,
    }


def _explanation(out: dict[str, Any], job: ExplanationJob, labels: list[str]) -> dict[str, Any]:
    """An explanation as the API shows it, plus the method in plain words, each quality figure
    read, the worker, and the archived rendering and archive time."""
    spec = METHODS.get(job.method)
    explained = {
        **out,
        "method_summary": spec.summary if spec else job.method,
        "method_plain": spec.plain if spec else None,
        "target_label": job.target_label
        or (labels[job.target] if 0 <= job.target < len(labels) else None),
        "worker": job.worker,
    }
    result = job.result
    if result is not None:
        explained["result"] = {
            **out["result"],
            "id": str(result.id),
            "archived_at": iso(result.created_at),
            "quality_readings": {
                name: quality_reading(name, value) for name, value in result.quality.items()
            },
            "rendering": None
            if result.rendering_sha256 is None
            else {"sha256": result.rendering_sha256, "media_type": result.rendering_media_type},
        }
    return explained


def _checked(entry: dict[str, Any], subject_id: str) -> dict[str, Any]:
    """A chain entry and ``hash_ok``: whether its hash is the one its fields give."""
    expected = record_hash(
        seq=entry["seq"],
        kind=entry["kind"],
        subject_id=subject_id,
        created_at=datetime.fromisoformat(entry["created_at"]),
        payload_sha256=entry["payload_sha256"],
        prev_hash=entry["prev_hash"],
    )
    return {**entry, "hash_ok": expected == entry["hash"]}


def _head(session: Session) -> dict[str, Any]:
    """The chain head now (read after the records, so never behind them)."""
    seq = session.scalar(select(AuditChainHead.seq).where(AuditChainHead.id == 1)) or 0
    head_hash = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))
    return {"seq": seq, "hash": head_hash or GENESIS_HASH}
