"""The global SHAP summary of a model over its archived explanations.

An archived result never changes (a job's result is written once; blobs are addressed by
their hash), so each result's two rows (its SHAP values, the case's feature values) are read
once per process and kept, keyed by result id. A request lists the ids of the latest results
(a query without blobs), reads the blobs of the results it has not seen in one query, and
draws the same PNG as from scratch; an unchanged list answers with the PNG already drawn.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.bundles.manifest import TabularInput
from shared.bundles.registry import Registry
from shared.db.models import Blob, ExplanationJob, ExplanationResult, Prediction
from shared.errors import InvalidInput, NotFound
from shared.rendering import render_summary

SUMMARY_LIMIT = 2000
_BLOB_BATCH = 500
_PNGS_KEPT = 32

SummaryKind = Literal["beeswarm", "bar"]


@dataclass(frozen=True)
class _Row:
    """One archived result, as the summary draws it."""

    values: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class _Listed:
    result_id: uuid.UUID
    attributions_sha256: str
    input_sha256: str


class SummaryCache:
    """The rows of every result a summary has drawn, and the last PNGs drawn (per process;
    a result that leaves the latest ``SUMMARY_LIMIT`` of its summary is dropped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str, str], dict[uuid.UUID, _Row]] = {}
        self._pngs: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def png(
        self,
        session: Session,
        registry: Registry,
        *,
        name: str,
        version: str,
        method: str,
        kind: SummaryKind,
    ) -> bytes:
        """Global summary over the model's archived explanations of ``method`` (latest first)."""
        spec = registry.get(name, version).manifest.input
        if not isinstance(spec, TabularInput):
            raise InvalidInput.field("model", "summaries are drawn for tabular models")
        listed = _latest(session, name=name, version=version, method=method)
        if not listed:
            raise NotFound(f"no archived {method} explanations of {name}/{version} yet")
        names = [f.name for f in spec.features]
        png_key = (name, version, method, kind, tuple(r.result_id for r in listed))
        with self._lock:
            if (png := self._pngs.get(png_key)) is not None:
                self._pngs.move_to_end(png_key)
                return png
            known = self._rows.get((name, version, method), {})
        rows = {
            **known,
            **_read_rows(session, [r for r in listed if r.result_id not in known], names),
        }
        rows = {r.result_id: rows[r.result_id] for r in listed}
        png = render_summary(
            np.stack([rows[r.result_id].values for r in listed]),
            np.stack([rows[r.result_id].features for r in listed]),
            names,
            kind=kind,
        )
        with self._lock:
            self._rows[(name, version, method)] = rows
            self._pngs[png_key] = png
            while len(self._pngs) > _PNGS_KEPT:
                self._pngs.popitem(last=False)
        return png


def _latest(session: Session, *, name: str, version: str, method: str) -> list[_Listed]:
    rows = session.execute(
        select(ExplanationResult.id, ExplanationResult.attributions_sha256, Prediction.input_sha256)
        .join(ExplanationJob, ExplanationResult.job_id == ExplanationJob.id)
        .join(Prediction, ExplanationJob.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == name,
            Prediction.model_version == version,
            ExplanationJob.method == method,
        )
        .order_by(ExplanationResult.created_at.desc(), ExplanationResult.id.desc())
        .limit(SUMMARY_LIMIT)
    ).all()
    return [_Listed(result_id=i, attributions_sha256=a, input_sha256=s) for i, a, s in rows]


def _read_rows(session: Session, listed: list[_Listed], names: list[str]) -> dict[uuid.UUID, _Row]:
    """The rows of these results, their blobs read in one query per batch."""
    wanted = sorted({r.attributions_sha256 for r in listed} | {r.input_sha256 for r in listed})
    data: dict[str, bytes] = {}
    for start in range(0, len(wanted), _BLOB_BATCH):
        batch = wanted[start : start + _BLOB_BATCH]
        data.update(
            session.execute(select(Blob.sha256, Blob.data).where(Blob.sha256.in_(batch))).all()
        )
    rows: dict[uuid.UUID, _Row] = {}
    for r in listed:
        values = np.load(io.BytesIO(data[r.attributions_sha256]), allow_pickle=False)
        case = json.loads(data[r.input_sha256])
        rows[r.result_id] = _Row(values=values, features=np.asarray([case[n] for n in names]))
    return rows
