"""RFC 9457 problem details: the body of every error response, declared once as the OpenAPI
component ``#/components/schemas/ProblemDetails`` that every error response refers to."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. features.mean area")
    reason: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response (``application/problem+json``)."""

    type: str = Field(default="about:blank", description="always about:blank: see title")
    title: str = Field(description="short, fixed summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what exactly was wrong with this request")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="one entry per offending field; absent when none"
    )
