"""``/v1/methods``: the explanation methods, their parameters and quality figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from services.api.core.auth import require
from services.api.core.deps import StateDep
from services.api.core.errors import problem_responses
from services.api.methods.schemas import MethodOut, ParameterOut, quality_out
from shared.auth.tokens import Principal
from shared.db.models import Role
from shared.methods import FIGURES, METHODS

router = APIRouter(prefix="/v1/methods", tags=["methods"])

AnyRoleDep = Annotated[Principal, Depends(require(*Role))]


@router.get("", response_model=list[MethodOut], responses=problem_responses(401, 403, 422))
def list_methods(state: StateDep, _: AnyRoleDep) -> list[MethodOut]:
    """Every method the stack can compute (which ones a model offers: ``GET /v1/models``)."""
    return [
        MethodOut(
            name=spec.name,
            label=spec.label,
            modality=spec.modality,
            summary=spec.summary,
            plain=spec.plain,
            limitations=spec.limitations,
            parameters=ParameterOut.table(spec),
            quality=[quality_out(FIGURES[name], state.settings) for name in spec.quality],
        )
        for spec in METHODS.values()
    ]
