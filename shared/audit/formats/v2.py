"""Version 2 of every record kind (0.2.0 on): version 1's fields, plus the format it is written
in and the release that wrote it, canonicalised by RFC 8785 (JCS)::

    {"format": "prediction/2", "release": {"version": "0.2.0", "commit": "…"}, …}

``format`` is ``"<kind>/<version>"`` and must match the record's kind. ``release`` is what the
writing process ran (:func:`shared.versions.release`); the verifier rebuilds a decision record
with the release the record states, never today's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

from pydantic import model_validator

from shared.audit.formats import v1, v1_fields
from shared.audit.formats.base import DecisionRows, Payload, Scheme, Strict
from shared.db.models import ClinicianFeedback, ExplanationJob, ExplanationResult, Prediction
from shared.versions import release as running_release


class Release(Strict):
    version: str
    commit: str


class V2(Payload):
    VERSION: ClassVar[int] = 2
    SCHEME: ClassVar[Scheme] = "rfc8785"

    format: str
    release: Release

    @model_validator(mode="after")
    def _names_its_format(self) -> Self:
        if self.format != self.format_name():
            raise ValueError(f"format is {self.format!r}, expected {self.format_name()!r}")
        return self

    @classmethod
    def new(cls, *, release: Release | None = None, **fields: Any) -> Self:
        """A payload written by the running release (or by ``release``: a rebuild)."""
        if release is None:
            running = running_release()
            release = Release(version=running.version, commit=running.commit)
        return cls.model_validate({**fields, "format": cls.format_name(), "release": release})


def release_of(written: Payload) -> Release:
    if not isinstance(written, V2):
        raise TypeError(f"a {written.format_name()} record is not version 2")
    return written.release


class PredictionV2(V2, v1.PredictionV1):
    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        return build_prediction(rows.prediction, rows.jobs, release=release_of(written))


class ExplanationV2(V2, v1.ExplanationV1):
    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        if rows.job is None or rows.result is None:
            raise ValueError("an explanation is rebuilt from its job and result")
        return build_explanation(
            rows.job, rows.result, prediction=rows.prediction, release=release_of(written)
        )


class FeedbackV2(V2, v1.FeedbackV1):
    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        if rows.feedback is None:
            raise ValueError("feedback is rebuilt from its row")
        return build_feedback(
            rows.feedback,
            rows.prediction,
            clinician_name=rows.clinician_name,
            release=release_of(written),
        )


class AccessV2(V2, v1.AccessV1):
    pass


class TokenV2(V2, v1.TokenV1):
    pass


class HoldV2(V2, v1.HoldV1):
    pass


class PurgeV2(V2, v1.PurgeV1):
    pass


class ReplayV2(V2, v1.ReplayV1):
    pass


class AdmissionV2(V2):
    """A model admitted into service: first written in version 2 (0.3.0), once per model
    bytes, manifest bytes and admission report (:mod:`shared.audit.admissions`). The report
    is stored as a blob (``blobs.admission_report``: the ``admission.json`` bytes, which the
    verifier checks against their SHA-256)."""

    KIND: ClassVar[str] = "admission"
    REPORT_BLOB: ClassVar[str] = "admission_report"
    model: v1.ModelRef
    manifest_sha256: str
    report_sha256: str
    passed: bool
    admitted_at: str | None
    available_methods: list[str]
    unavailable_methods: dict[str, str]
    blobs: dict[str, str]

    @model_validator(mode="after")
    def _report_is_its_blob(self) -> Self:
        if self.blobs != {self.REPORT_BLOB: self.report_sha256}:
            raise ValueError("blobs must be exactly {'admission_report': report_sha256}")
        return self


MODELS: tuple[type[Payload], ...] = (
    PredictionV2,
    ExplanationV2,
    FeedbackV2,
    AccessV2,
    TokenV2,
    HoldV2,
    PurgeV2,
    ReplayV2,
    AdmissionV2,
)


def build_prediction(
    prediction: Prediction, jobs: Sequence[ExplanationJob], *, release: Release | None = None
) -> PredictionV2:
    return PredictionV2.new(release=release, **v1_fields.prediction_fields(prediction, jobs))


def build_explanation(
    job: ExplanationJob,
    result: ExplanationResult,
    *,
    prediction: Prediction | None = None,
    release: Release | None = None,
) -> ExplanationV2:
    fields = v1_fields.explanation_fields(job, result, prediction=prediction)
    return ExplanationV2.new(release=release, **fields)


def build_feedback(
    feedback: ClinicianFeedback,
    prediction: Prediction,
    *,
    clinician_name: str,
    release: Release | None = None,
) -> FeedbackV2:
    fields = v1_fields.feedback_fields(feedback, prediction, clinician_name=clinician_name)
    return FeedbackV2.new(release=release, **fields)
