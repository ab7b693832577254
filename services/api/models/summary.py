"""The global SHAP summary of a model over its archived explanations."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.core.errors import NotFound
from services.api.explanations.service import archived_array
from shared.bundles.manifest import TabularInput
from shared.bundles.registry import Registry
from shared.db import repository
from shared.db.models import ExplanationJob, ExplanationResult, Prediction
from shared.preprocess import InputError
from shared.rendering import render_summary

SUMMARY_LIMIT = 2000


def model_summary_png(
    session: Session,
    registry: Registry,
    *,
    name: str,
    version: str,
    method: str,
    kind: Literal["beeswarm", "bar"],
) -> bytes:
    """Global summary over the model's archived explanations of ``method`` (latest first)."""
    spec = registry.get(name, version).manifest.input
    if not isinstance(spec, TabularInput):
        raise InputError.field("model", "summaries are drawn for tabular models")
    rows = session.execute(
        select(ExplanationResult.attributions_sha256, Prediction.input_sha256)
        .join(ExplanationJob, ExplanationResult.job_id == ExplanationJob.id)
        .join(Prediction, ExplanationJob.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == name,
            Prediction.model_version == version,
            ExplanationJob.method == method,
        )
        .order_by(ExplanationResult.created_at.desc())
        .limit(SUMMARY_LIMIT)
    ).all()
    if not rows:
        raise NotFound(f"no archived {method} explanations of {name}/{version} yet")
    names = [f.name for f in spec.features]
    values = np.stack([archived_array(session, a) for a, _ in rows])
    features = np.asarray([[_case(session, i)[n] for n in names] for _, i in rows])
    return render_summary(values, features, [f.name for f in spec.features], kind=kind)


def _case(session: Session, input_sha256: str) -> dict[str, float]:
    blob = repository.get_blob(session, input_sha256)
    assert blob is not None
    return dict(json.loads(blob.data))
