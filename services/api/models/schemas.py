"""Wire schemas of the model registry."""

from __future__ import annotations

from pydantic import AliasPath, BaseModel, ConfigDict, Field, computed_field

from shared.bundles.manifest import Manifest
from shared.methods import supported_methods


class ModelOut(BaseModel):
    """A served bundle: ``ModelOut.model_validate(bundle)``."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the bundle's model.onnx: its identity")
    default: bool = Field(validation_alias=AliasPath("manifest", "default"))
    task: str = Field(validation_alias=AliasPath("manifest", "task"))
    manifest: Manifest

    @computed_field  # type: ignore[prop-decorator]
    @property
    def methods(self) -> list[str]:
        """The explanation methods this bundle supports."""
        return supported_methods(self.manifest)


class RejectedModelOut(BaseModel):
    """A bundle folder that is not served, and why (the file and field at fault)."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="the folder's model name")
    version: str = Field(description="the folder's version")
    reason: str
