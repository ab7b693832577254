"""RFC 9457 problem details: the body of every error response, declared once as the OpenAPI
component ``#/components/schemas/ProblemDetails`` that every error response refers to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

COMPONENTS = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": COMPONENTS.format(model="ProblemDetails")}


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


def component_schemas() -> dict[str, dict[str, Any]]:
    """``ProblemDetails`` and the models it nests, keyed by their component names."""
    schema = ProblemDetails.model_json_schema(ref_template=COMPONENTS, mode="serialization")
    nested: dict[str, dict[str, Any]] = schema.pop("$defs", {})
    return {**nested, "ProblemDetails": schema}
