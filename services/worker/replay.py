"""The replay service: recompute an archived explanation for an auditor and report agreement.

Claim the replay (conditional UPDATE), load its explanation (job, archived result, prediction,
archived input), refuse unless this worker serves the bundle the prediction pinned (same
sha256), compute again with the job's method, parameters, target and seed
(:mod:`services.worker.recompute`), compare with the archived attributions
(:mod:`services.worker.replay_agreement`). The final status (``succeeded`` + outcome, or
``failed`` + reason) and its ``replay`` audit record commit in one transaction.

Deterministic methods (integrated_gradients, gradcam, saliency, tree_shap), and seeded ones on
the same threads, device and library versions, reproduce the archived bytes exactly; the
outcome states the replay's environment so a reader can tell why another one did not.
Refusals end the replay ``failed`` at once; unexpected errors hand it back until its attempts
are spent; a database outage hands it back and retries the task.
"""

from __future__ import annotations

import io
import logging
import uuid
from typing import Any

import numpy as np
from sqlalchemy.exc import OperationalError

from services.worker.context import WorkerContext
from services.worker.explain import TransientError
from services.worker.explainers import ExplainerError
from services.worker.recompute import compute, npy_bytes
from services.worker.replay_agreement import AgreementError, agreement
from shared.audit.replays import payload_for_replay, record_replay
from shared.bundles.registry import BundleError, UnknownModel
from shared.db import replays, repository
from shared.db.models import ExplanationJob, ExplanationResult, Prediction, Replay
from shared.hashing import sha256_hex
from shared.preprocess import NotReproducible

log = logging.getLogger(__name__)


class ReplayRefused(Exception):
    """The replay cannot be a faithful recomputation (e.g. other model bytes): ``failed``."""


_REFUSALS = (
    ReplayRefused,
    AgreementError,
    ExplainerError,
    UnknownModel,
    BundleError,
    NotReproducible,
)


def run_replay(*, replay_id: uuid.UUID, context: WorkerContext) -> None:
    settings = context.settings
    with context.sessions.begin() as session:
        attempt = replays.claim(session, replay_id=replay_id, lease_s=settings.job_lease_s)
    if attempt is None:
        log.info("replay %s is claimed or finished elsewhere: nothing to do", replay_id)
        return
    if attempt > settings.max_attempts:  # lost or failed on every attempt before this one
        _finish(context, replay_id, attempt, error=_gave_up(context, replay_id, attempt - 1))
        return
    try:
        outcome = _replay(replay_id=replay_id, context=context)
        finished = _finish(context, replay_id, attempt, outcome=outcome)
    except _REFUSALS as exc:
        _finish(context, replay_id, attempt, error=str(exc))
        log.warning("replay %s failed: %s", replay_id, exc)
        return
    except OperationalError as exc:
        _give_back(context, replay_id, attempt, f"database error: {exc.orig!r}")
        raise TransientError(str(exc)) from exc
    except Exception as exc:  # a bug or a poison input: bounded attempts, then failed
        log.exception("replay %s: unexpected error", replay_id)
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        if attempt >= settings.max_attempts:
            _finish(
                context, replay_id, attempt, error=f"gave up after {attempt} attempts: {reason}"
            )
        else:
            _give_back(context, replay_id, attempt, reason)
        return
    log.info("replay %s %s", replay_id, "succeeded" if finished else "was taken over: dropped")


def _replay(*, replay_id: uuid.UUID, context: WorkerContext) -> dict[str, Any]:
    with context.sessions() as session:
        replay = session.get(Replay, replay_id)
        assert replay is not None, "a claimed replay exists"
        job = replay.job
        prediction, result = job.prediction, job.result
        if result is None:
            raise ReplayRefused(f"explanation {job.id} has no archived result to replay")
        stored = repository.get_blob(session, prediction.input_sha256)
        archived = repository.get_blob(session, result.attributions_sha256)
        if stored is None or archived is None:
            raise ReplayRefused("the archived input or attributions are gone (retention)")
    _check_pinned(context, prediction, result)
    computed = compute(job=job, prediction=prediction, raw_input=stored.data, context=context)
    replayed = computed.values
    figures = agreement(np.load(io.BytesIO(archived.data), allow_pickle=False), replayed)
    library_versions = computed.library_versions
    return {
        **figures.as_dict(),
        "method": job.method,
        "target": job.target,
        "seed": job.seed,
        "parameters": job.parameters,
        "archived_attributions_sha256": result.attributions_sha256,
        "replayed_attributions_sha256": sha256_hex(npy_bytes(replayed)),
        "model_sha256": computed.attribution.model_sha256,
        "library_versions": library_versions,
        "library_versions_same": library_versions == result.library_versions,
        "device": context.device,
        "archived_device": job.device,
        "threads": context.settings.worker_torch_threads,
        "compute_ms": computed.compute_ms,
    }


def _check_pinned(
    context: WorkerContext, prediction: Prediction, result: ExplanationResult
) -> None:
    """Refuse unless this worker serves the very bytes the prediction (and its explanation)
    pinned; :func:`compute` checks again as it loads them."""
    name, version, pinned = prediction.model_name, prediction.model_version, prediction.model_sha256
    try:
        served = context.models.registry.get(name, version)
    except UnknownModel:
        raise ReplayRefused(
            f"refused: {name}/{version} is not served here; the prediction pinned sha256 {pinned}"
        ) from None
    if served.sha256 != pinned:
        raise ReplayRefused(
            f"refused: the served bundle {name}/{version} has sha256 {served.sha256}, the "
            f"prediction pinned sha256 {pinned}; a replay runs only on the explained bytes"
        )
    if result.model_sha256 != pinned:
        raise ReplayRefused(
            f"refused: the archived explanation names model sha256 {result.model_sha256}, "
            f"its prediction pinned sha256 {pinned}"
        )


def _finish(
    context: WorkerContext,
    replay_id: uuid.UUID,
    attempt: int,
    *,
    outcome: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """The final status and its audit record in one transaction, if the claim is still ours."""
    with context.sessions.begin() as session:
        finished_at = replays.finish(
            session, replay_id=replay_id, attempt=attempt, outcome=outcome, error=error
        )
        if finished_at is None:
            return False
        replay = session.get(Replay, replay_id)
        assert replay is not None
        job: ExplanationJob = replay.job
        payload = payload_for_replay(
            replay,
            job,
            model_sha256=job.prediction.model_sha256,
            attempt=attempt,
            finished_at=finished_at,
            outcome=outcome,
            error=error,
        )
        record = record_replay(session, payload=payload, now=finished_at)
        replays.set_audit_seq(session, replay_id=replay_id, seq=record.seq)
    return True


def _gave_up(context: WorkerContext, replay_id: uuid.UUID, attempts: int) -> str:
    with context.sessions() as session:
        replay = session.get(Replay, replay_id)
        last = replay.error if replay is not None else None
    return f"gave up after {attempts} attempts: {last or 'worker lost'}"


def _give_back(context: WorkerContext, replay_id: uuid.UUID, attempt: int, reason: str) -> None:
    try:
        with context.sessions.begin() as session:
            replays.requeue(session, replay_id=replay_id, attempt=attempt, reason=reason[:2000])
    except OperationalError:
        log.warning(
            "replay %s: could not give back (database down); its lease will expire", replay_id
        )
