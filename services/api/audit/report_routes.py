"""``/v1/audit/records/{prediction_id}/report``: one decision's report for auditors, as JSON or
as a PDF (each read is logged, with its stated purpose, before it is served)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from services.api.audit import reports
from services.api.core.auth import AuditorDep
from services.api.core.deps import SessionDep, StateDep
from services.api.core.errors import problem_responses
from services.api.core.openapi import file_response

router = APIRouter(prefix="/v1/audit/records", tags=["audit"])
_PROBLEMS = problem_responses(
    401,
    403,
    404,
    422,
    503,
    descriptions={422: "no X-Audit-Purpose header, or a malformed prediction id"},
)


def _attachment(prediction_id: uuid.UUID, extension: str) -> dict[str, str]:
    filename = f"decision-report-{prediction_id}.{extension}"
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


class ChainHead(BaseModel):
    seq: int
    hash: str


class ReportChain(BaseModel):
    records: list[dict[str, Any]] = Field(description="this decision's records, each hash_ok")
    head: ChainHead = Field(description="the chain's head when the report was made")


class DecisionReportOut(BaseModel):
    """The per-decision report (the PDF shows the same)."""

    format: Literal["xai-decision-report/1"]
    generated_at: str = Field(description="ISO 8601, UTC")
    prediction: dict[str, Any]
    model_card: dict[str, Any]
    admission: dict[str, Any] = Field(
        description="how the deciding model was admitted: its admission record in the chain "
        "(seq) before the decision, with the report's steps, methods and figures, and parity"
    )
    explanations: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    chain: ReportChain
    links: dict[str, str]


@router.get("/{prediction_id}/report.json", response_model=DecisionReportOut, responses=_PROBLEMS)
def get_report_json(
    prediction_id: uuid.UUID,
    session: SessionDep,
    state: StateDep,
    response: Response,
    _: AuditorDep,
) -> DecisionReportOut:
    """The decision, its model card, explanations, feedback and audit-chain records."""
    report = reports.decision_report(session, state.registry, prediction_id)
    response.headers.update(_attachment(prediction_id, "json"))
    return DecisionReportOut.model_validate(report)


@router.get(
    "/{prediction_id}/report.pdf",
    response_class=Response,
    responses={**file_response("application/pdf", "the report (PDF)"), **_PROBLEMS},
)
def get_report_pdf(
    prediction_id: uuid.UUID, session: SessionDep, state: StateDep, _: AuditorDep
) -> Response:
    """The same report as an A4 PDF, with the archived heatmap or waterfall of each explanation."""
    pdf = reports.decision_report_pdf(session, state.registry, prediction_id)
    return Response(pdf, media_type="application/pdf", headers=_attachment(prediction_id, "pdf"))
