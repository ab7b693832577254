"""Real rows for the audit tests: decisions (prediction, jobs, results, blobs) and their records,
written through the same functions the API and the worker call."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared import audit
from shared.auth import Principal, create_token
from shared.bundles.outcome import recorded_outcome
from shared.db import repository
from shared.db.models import (
    ExplanationJob,
    ExplanationResult,
    JobStatus,
    Prediction,
    Role,
)
from shared.hashing import sha256_hex

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
LABELS = ("normal", "pneumonia")


def principal(session: Session, role: Role = Role.clinician, name: str = "dr-a") -> Principal:
    token_id, _ = create_token(session, role=role, name=name, now=T0)
    return Principal(token_id=token_id, role=role, name=name)


def decision(
    session: Session,
    rng: random.Random,
    *,
    at: datetime = T0,
    methods: tuple[str, ...] = ("integrated_gradients",),
    input_bytes: bytes | None = None,
    case_ref_hmac: str | None = None,
    finish: bool = True,
) -> Prediction:
    """A prediction with its record at ``at``; each job finished (result, blobs, record)
    a few seconds later unless ``finish`` is False."""
    data = input_bytes if input_bytes is not None else rng.randbytes(64)
    p = rng.random()
    prediction = Prediction(
        id=uuid.uuid4(),
        created_at=at,
        model_name="chest-xray-demo",
        model_version="clean",
        model_sha256=sha256_hex(b"model"),
        input_kind="image",
        input_media_type="image/png",
        input_sha256=repository.put_blob(session, data=data, media_type="image/png"),
        tensor_sha256=sha256_hex(data[::-1]),
        preprocessing={"resize": [32, 32], "normalise": {"mean": 0.5, "std": 0.25}},
        label=LABELS[p > 0.5],
        probability=max(p, 1 - p),
        probabilities={"normal": 1 - p, "pneumonia": p},
        outcome=recorded_outcome(
            None,
            label=LABELS[p > 0.5],
            probability=max(p, 1 - p),
            probabilities={"normal": 1 - p, "pneumonia": p},
        ).recorded(),
        case_ref_hmac=case_ref_hmac,
        requested_by="token-1",
        request_fingerprint=sha256_hex(data),
        runtime_versions={"onnxruntime": "1.20.0"},
        jobs=[
            ExplanationJob(
                id=uuid.uuid4(),
                method=method,
                parameters={"steps": 16},
                target=int(p > 0.5),
                target_label=LABELS[p > 0.5],
                seed=rng.randrange(2**31),
                queued_at=at,
            )
            for method in methods
        ],
    )
    session.add(prediction)
    audit.record_prediction(session, prediction=prediction, now=at)
    if finish:
        for job in prediction.jobs:
            finish_job(session, rng, job, prediction, at=at + timedelta(seconds=3))
    return prediction


def finish_job(
    session: Session,
    rng: random.Random,
    job: ExplanationJob,
    prediction: Prediction,
    *,
    at: datetime,
) -> ExplanationResult:
    npy, png = rng.randbytes(128), rng.randbytes(96)
    job.status, job.started_at, job.finished_at = JobStatus.succeeded, at, at
    job.attempts, job.device, job.worker = 1, "cpu", "worker@test"
    result = ExplanationResult(
        id=uuid.uuid4(),
        job_id=job.id,
        created_at=at,
        model_sha256=prediction.model_sha256,
        attributions_sha256=repository.put_blob(session, data=npy, media_type="application/x-npy"),
        attributions_shape=[1, 32, 32],
        attributions_dtype="float32",
        rendering_sha256=repository.put_blob(session, data=png, media_type="image/png"),
        rendering_media_type="image/png",
        baseline={"value": 0.0},
        parameters={"steps": 16, "internal_batch_size": 8},
        quality={"ig_delta": rng.uniform(-1e-4, 1e-4), "parity_max_abs_diff": 3.1e-7},
        summary={"top": [[3, 4], [5, 6]]},
        library_versions={"captum": "0.8.0", "torch": "2.13.0"},
        compute_ms=rng.uniform(5, 50),
    )
    session.add(result)
    audit.record_explanation(session, job=job, result=result, prediction=prediction, now=at)
    return result


def chain(session: Session, rng: random.Random, *, records: int) -> list[Prediction]:
    """At least ``records`` records: decisions, feedback and auditor reads (at least one of
    each, in that order, then drawn at random)."""
    clinician = principal(session, Role.clinician, "dr-a")
    auditor = principal(session, Role.auditor, "auditor-b")
    decisions: list[Prediction] = []
    at = T0
    step = 0
    while audit.take_checkpoint(session).seq < records:
        at += timedelta(minutes=rng.randint(1, 90))
        choice = (0.0, 0.6, 0.9)[step] if step < 3 else rng.random()
        step += 1
        if choice < 0.5:
            methods = rng.choice([("integrated_gradients",), ("gradcam", "saliency"), ()])
            decisions.append(decision(session, rng, at=at, methods=methods))
        elif choice < 0.75:
            target = rng.choice(decisions)
            other = next(label for label in LABELS if label != target.label)
            audit.record_feedback(
                session,
                prediction=target,
                principal=clinician,
                decision="override",
                corrected_label=other,
                reason="opacity is a marker artefact",
                now=at,
            )
        else:
            audit.log_access(
                session,
                principal=auditor,
                action="GET /v1/audit/records/{id}",
                subject_id=str(rng.choice(decisions).id),
                purpose="quarterly review",
                now=at,
            )
    return decisions
