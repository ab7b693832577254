"""One served model with its admission report and the chain record that holds it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.models.schemas import AdmissionOut, ModelDetailOut, ModelOut
from shared.audit.admissions import admission_of
from shared.bundles.registry import Registry


def model_detail(
    session: Session, registry: Registry, *, name: str, version: str
) -> ModelDetailOut:
    """``UnknownModel`` (404) for a name/version that is not served."""
    bundle = registry.get(name, version)
    admission = None
    if bundle.admission is not None:
        record = admission_of(session, bundle)
        admission = AdmissionOut(
            report=bundle.admission.report,
            report_sha256=bundle.admission.sha256,
            seq=record.seq if record else None,
            recorded_at=record.created_at if record else None,
        )
    summary = ModelOut.model_validate(bundle).model_dump(exclude={"methods"})
    return ModelDetailOut.model_validate({**summary, "admission": admission})
