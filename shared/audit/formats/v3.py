"""Version 3 of the prediction and explanation records (0.3.0 on): version 2's fields, plus
what a model's output said beyond one class, and the label each explanation explains::

    prediction/3: outputs.outcome (shared.bundles.outcome.Outcome: mode, findings against
                  their thresholds, or the value with its unit and range) and each listed
                  job's target_label
    explanation/3: target_label (the label of output column ``target``)

Canonicalised by RFC 8785 and stating ``format`` and ``release``, as version 2. Version 2's
models and builders are not changed: records written in it are rebuilt by it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import JsonValue

from shared.audit.formats import v1, v1_fields
from shared.audit.formats.base import DecisionRows, Payload
from shared.audit.formats.v2 import V2, Release, release_of
from shared.db.models import ExplanationJob, ExplanationResult, Prediction


class V3(V2):
    VERSION: ClassVar[int] = 3


class OutputsV3(v1.Outputs):
    outcome: JsonValue


class JobRefV3(v1.JobRef):
    target_label: str | None


class PredictionV3(V3, v1.PredictionV1):
    outputs: OutputsV3
    explanations: list[JobRefV3]  # type: ignore[assignment]

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        return build_prediction(rows.prediction, rows.jobs, release=release_of(written))


class ExplanationV3(V3, v1.ExplanationV1):
    target_label: str | None

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        if rows.job is None or rows.result is None:
            raise ValueError("an explanation is rebuilt from its job and result")
        return build_explanation(
            rows.job, rows.result, prediction=rows.prediction, release=release_of(written)
        )


MODELS: tuple[type[Payload], ...] = (PredictionV3, ExplanationV3)


def prediction_fields(prediction: Prediction, jobs: Sequence[ExplanationJob]) -> dict[str, Any]:
    fields = v1_fields.prediction_fields(prediction, jobs)
    fields["outputs"] = {**fields["outputs"], "outcome": prediction.outcome}
    labels = {str(job.id): job.target_label for job in jobs}
    fields["explanations"] = [
        {**ref, "target_label": labels[ref["job_id"]]} for ref in fields["explanations"]
    ]
    return fields


def build_prediction(
    prediction: Prediction, jobs: Sequence[ExplanationJob], *, release: Release | None = None
) -> PredictionV3:
    return PredictionV3.new(release=release, **prediction_fields(prediction, jobs))


def build_explanation(
    job: ExplanationJob,
    result: ExplanationResult,
    *,
    prediction: Prediction | None = None,
    release: Release | None = None,
) -> ExplanationV3:
    fields = v1_fields.explanation_fields(job, result, prediction=prediction)
    return ExplanationV3.new(release=release, target_label=job.target_label, **fields)
