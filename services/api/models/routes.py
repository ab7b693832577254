"""``/v1/models``: the registry of served bundles with their manifests and hashes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from services.api.core.auth import ArchiveReaderDep, ModelReaderDep
from services.api.core.deps import SessionDep, StateDep
from services.api.core.errors import problem_responses
from services.api.core.openapi import file_response
from services.api.models.schemas import ModelDetailOut, ModelOut, RejectedModelOut
from services.api.models.service import model_detail

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelOut], responses=problem_responses(401, 403, 422))
def list_models(state: StateDep, _: ModelReaderDep) -> list[ModelOut]:
    """The served bundles (picked up without a restart; ``/v1/models/rejected`` lists the
    bundle folders that are not served)."""
    return [ModelOut.model_validate(bundle) for bundle in state.registry.all()]


@router.get(
    "/rejected", response_model=list[RejectedModelOut], responses=problem_responses(401, 403, 422)
)
def list_rejected_models(state: StateDep, _: ModelReaderDep) -> list[RejectedModelOut]:
    """Bundle folders that are not served: an invalid manifest, a model ONNX Runtime cannot
    load, or new bytes under a version already served (versions are immutable)."""
    return [RejectedModelOut.model_validate(r) for r in state.registry.rejected]


@router.get(
    "/{name}/{version}",
    response_model=ModelDetailOut,
    responses=problem_responses(
        401, 403, 404, 422, 503, descriptions={404: "no served model has that name and version"}
    ),
)
def get_model(
    name: str, version: str, session: SessionDep, state: StateDep, _: ModelReaderDep
) -> ModelDetailOut:
    """A served bundle with its admission report and the seq of the audit-chain record that
    holds it (``GET /v1/audit/verify`` checks that record and the report's bytes)."""
    return model_detail(session, state.registry, name=name, version=version)


@router.get(
    "/{name}/{version}/summary.png",
    response_class=Response,
    responses={
        **file_response("image/png", "the summary plot (PNG)"),
        **problem_responses(
            401,
            403,
            404,
            422,
            503,
            descriptions={
                404: "unknown model, or no explanations of the method archived yet",
                422: "invalid query, or the model is not tabular",
            },
        ),
    },
)
def get_summary(
    name: str,
    version: str,
    session: SessionDep,
    state: StateDep,
    _: ArchiveReaderDep,
    method: str = "tree_shap",
    kind: Literal["beeswarm", "bar"] = "beeswarm",
) -> Response:
    """Global SHAP summary of a tabular model over its archived explanations (auditors, ops)."""
    png = state.summaries.png(
        session, state.registry, name=name, version=version, method=method, kind=kind
    )
    return Response(png, media_type="image/png")
