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
from sqlalchemy.orm import Session

from services.worker import runner
from services.worker.context import WorkerContext
from services.worker.explainers import ExplainerError
from services.worker.recompute import compute, npy_bytes
from services.worker.replay_agreement import AgreementError, agreement
from shared.audit.replays import payload_for_replay, record_replay
from shared.bundles.registry import BundleError, UnknownModel
from shared.db import leases, repository
from shared.db.models import ExplanationJob, ExplanationResult, JobStatus, Prediction, Replay
from shared.db.replays import REPLAYS, set_audit_seq
from shared.hashing import sha256_hex
from shared.preprocess import NotReproducible
from shared.queue import Publisher

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
    runner.run(REPLAY, item_id=replay_id, context=context)


def _replay(replay_id: uuid.UUID, context: WorkerContext) -> dict[str, Any]:
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


def _archive(session: Session, replay_id: uuid.UUID, attempt: int, outcome: dict[str, Any]) -> bool:
    """``succeeded`` with the outcome and its audit record, if the claim is still ours."""
    if leases.succeed(session, REPLAYS, item_id=replay_id, attempt=attempt, outcome=outcome):
        _record(session, replay_id)
        return True
    return False


def _record(session: Session, replay_id: uuid.UUID) -> None:
    """The ``replay`` audit record of a final status, as the UPDATE left the row."""
    replay = session.get(Replay, replay_id, populate_existing=True)
    assert replay is not None and replay.finished_at is not None
    job: ExplanationJob = replay.job
    failed = replay.status is JobStatus.failed
    payload = payload_for_replay(
        replay,
        job,
        model_sha256=job.prediction.model_sha256,
        attempt=replay.attempts,
        finished_at=replay.finished_at,
        outcome=replay.outcome,
        error=replay.error if failed else None,
    )
    record = record_replay(session, payload=payload, now=replay.finished_at)
    set_audit_seq(session, replay_id=replay_id, seq=record.seq)


REPLAY: runner.Kind[dict[str, Any]] = runner.Kind(
    name="replay",
    table=REPLAYS,
    publish=Publisher.publish_replays,
    compute=_replay,
    archive=_archive,
    refusals=_REFUSALS,
    on_failed=_record,
)
