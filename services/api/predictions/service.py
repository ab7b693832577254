"""The prediction service: diagnose at once, record prediction + jobs in ONE transaction.

Publishing the jobs happens after the commit (:mod:`shared.queue`). The jobs are recorded with
their publish attempt (``published_at``), so a successful publish costs no second commit; a
failed one is handed back to the reconciler.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.api.core.runtime import ModelRuntime
from shared import audit
from shared.bundles.outcome import targets_named
from shared.bundles.registry import Bundle
from shared.db import jobs, repository
from shared.db.models import ExplanationJob, JobStatus, Prediction
from shared.errors import MAX_FIELD_NAME, FieldError
from shared.hashing import canonical_json, idempotency_digest, pseudonymise, sha256_hex
from shared.methods import ParameterError, job_parameters, supported_methods
from shared.preprocess.errors import InputError
from shared.preprocess.prepared import PreparedInput
from shared.versions import package_versions


@dataclass(frozen=True)
class PredictionRequest:
    bundle: Bundle
    prepared: PreparedInput
    methods: list[str] | None
    case_ref: str | None
    idempotency_key: str | None
    requested_by: str | None = None
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per-method overrides of the bundle's parameters, as the request gave them."""
    targets: tuple[str, ...] | None = None
    """Labels to explain (classes, findings); ``None``: the outcome's defaults."""


@dataclass(frozen=True)
class PredictionOutcome:
    prediction: Prediction
    replayed: bool
    timings: dict[str, float] = field(default_factory=dict)


def resolve_methods(bundle: Bundle, requested: list[str] | None) -> list[str]:
    """The methods a prediction's jobs run: the request's, or the bundle's defaults. A method
    the registry does not offer for the manifest, or that the bundle's admission found
    unavailable, is a 422 naming ``methods`` (with admission's reason)."""
    unavailable = bundle.unavailable_methods
    supported = [m for m in supported_methods(bundle.manifest) if m not in unavailable]
    if requested is None:
        return [m for m in bundle.manifest.explanations.default_methods if m in supported]
    refused = [m for m in dict.fromkeys(requested) if m in unavailable]
    if refused:
        raise InputError.field(
            "methods",
            "; ".join(
                f"{m} is unavailable for {bundle.name}/{bundle.version}: {unavailable[m]}"
                for m in refused
            )
            + f" (available: {', '.join(supported) or 'none'})",
        )
    unsupported = [m for m in requested if m not in supported]
    if unsupported:
        raise InputError.field(
            "methods",
            f"{', '.join(unsupported)} not supported by {bundle.name}/{bundle.version}; "
            f"supported: {', '.join(supported)}",
        )
    return list(dict.fromkeys(requested))


MAX_TARGETS = 16
"""The most outputs one prediction explains (each is one job per method)."""


def resolve_targets(bundle: Bundle, named: tuple[str, ...] | None) -> tuple[int, ...]:
    """The output columns of the labels a request names (empty: the outcome's defaults); an
    unknown label is a 422 naming ``targets``."""
    if not named:
        return ()
    output = bundle.manifest.output
    try:
        targets = targets_named(output, named)
    except ValueError as exc:
        raise InputError.field("targets", str(exc)) from None
    if len(targets) > MAX_TARGETS:
        raise InputError.field("targets", f"at most {MAX_TARGETS} targets")
    return targets


def resolve_parameters(
    bundle: Bundle, methods: list[str], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Each method's parameters as its job records them: the method's defaults, the bundle's,
    then the request's ``overrides``; refused ones are a 422 naming ``parameters.<method>.<name>``.
    """
    try:
        resolved = job_parameters(bundle.manifest, methods, overrides)
    except ParameterError as exc:
        raise InputError.of(
            [FieldError(field=p.field[:MAX_FIELD_NAME], reason=p.reason) for p in exc.problems]
        ) from None
    return {name: parameters.recorded() for name, parameters in resolved.items()}


def runtime_versions() -> dict[str, str]:
    return package_versions("onnxruntime", "numpy", "pillow", "pydicom")


def create_prediction(
    *,
    sessions: sessionmaker[Session],
    runtime: ModelRuntime,
    request: PredictionRequest,
    case_ref_key: bytes,
) -> PredictionOutcome:
    bundle, prepared = request.bundle, request.prepared
    methods = resolve_methods(bundle, request.methods)
    parameters = resolve_parameters(bundle, methods, request.parameters)
    case_hmac = pseudonymise(request.case_ref, key=case_ref_key) if request.case_ref else None
    asked: dict[str, Any] = {
        "model": [bundle.name, bundle.version, bundle.sha256],
        "input": sha256_hex(prepared.raw),
        "methods": methods,
        "case": case_hmac,
        "by": request.requested_by,
    }
    if request.parameters:  # requests without overrides keep their earlier fingerprint
        asked["parameters"] = request.parameters
    if request.targets is not None:  # likewise for requests naming no targets
        asked["targets"] = list(request.targets)
    fingerprint = sha256_hex(canonical_json(asked))
    key = request.idempotency_key
    key_hash = idempotency_digest(key, case_ref_key=case_ref_key) if key else None
    if key_hash:
        with sessions() as session:
            existing = repository.find_by_idempotency_key(session, key_hash)
        if existing is not None:
            return _replay(existing, fingerprint)

    output = bundle.manifest.output
    named = resolve_targets(bundle, request.targets)
    started = time.perf_counter()
    outcome = runtime.diagnose(bundle, prepared.tensor)
    inferred = time.perf_counter()
    targets = named or outcome.default_targets(output)
    now = jobs.now()
    with sessions() as session:
        try:
            prediction = Prediction(
                id=uuid.uuid4(),
                model_name=bundle.name,
                model_version=bundle.version,
                model_sha256=bundle.sha256,
                input_kind=prepared.kind,
                input_media_type=prepared.media_type,
                input_sha256=repository.put_blob(
                    session, data=prepared.raw, media_type=prepared.media_type
                ),
                tensor_sha256=sha256_hex(prepared.tensor_npy()),
                preprocessing=prepared.steps,
                label=outcome.label,
                # the value of a regression, which has no probability (see outcome)
                probability=outcome.probability if outcome.value is None else outcome.value,
                probabilities=outcome.probabilities,
                outcome=outcome.recorded(),
                case_ref_hmac=case_hmac,
                requested_by=request.requested_by,
                idempotency_key=key_hash,
                request_fingerprint=fingerprint,
                runtime_versions=runtime_versions(),
                jobs=[
                    ExplanationJob(
                        id=uuid.uuid4(),
                        method=method,
                        parameters=parameters[method],
                        target=target,
                        target_label=output.labels[target],
                        seed=secrets.randbelow(2**31),
                        status=JobStatus.queued,
                        published_at=now,
                        publishes=1,
                    )
                    for method in methods
                    for target in targets
                ],
            )
            session.add(prediction)
            audit.record_prediction(session, prediction=prediction)
            session.commit()
        except IntegrityError:
            session.rollback()
            if not key_hash:
                raise
            existing = repository.find_by_idempotency_key(session, key_hash)
            if existing is None:
                raise
            return _replay(existing, fingerprint)
    timings = {"inference": inferred - started, "record": time.perf_counter() - inferred}
    return PredictionOutcome(prediction=prediction, replayed=False, timings=timings)


def _replay(existing: Prediction, fingerprint: str) -> PredictionOutcome:
    if existing.request_fingerprint != fingerprint:
        raise InputError.field(
            "Idempotency-Key",
            "already used for a different request (model, input, methods, parameters or requester)",
        )
    return PredictionOutcome(prediction=existing, replayed=True)
