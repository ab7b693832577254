"""``/v1/models``: the registry of served bundles with their manifests and hashes."""

from __future__ import annotations

from fastapi import APIRouter

from services.api.deps import StateDep
from services.api.schemas import ModelOut
from shared.methods import supported_methods

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelOut])
def list_models(state: StateDep) -> list[ModelOut]:
    return [
        ModelOut(
            name=b.name,
            version=b.version,
            sha256=b.sha256,
            default=b.manifest.default,
            task=b.manifest.task,
            methods=supported_methods(b.manifest),
            manifest=b.manifest.model_dump(mode="json"),
        )
        for b in state.registry.all()
    ]
