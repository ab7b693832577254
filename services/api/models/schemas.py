"""Wire schemas of the model registry."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasPath, BaseModel, ConfigDict, Field, computed_field

from shared.bundles.admission import AdmissionReport
from shared.bundles.manifest import Manifest
from shared.methods import supported_methods


class ModelOut(BaseModel):
    """A served bundle: ``ModelOut.model_validate(bundle)``."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the bundle's model.onnx: its identity")
    manifest_sha256: str = Field(description="SHA-256 of the bundle's manifest.json bytes")
    default: bool = Field(validation_alias=AliasPath("manifest", "default"))
    task: str = Field(validation_alias=AliasPath("manifest", "task"))
    admitted: bool = Field(
        description="whether the bundle carries a passed admission report for these bytes "
        "(admission.json); a bundle without one is served with the registry's methods"
    )
    unavailable_methods: dict[str, str] = Field(
        description="method -> why admission found it unusable for this model; a request "
        "naming one is a 422"
    )
    manifest: Manifest

    @computed_field  # type: ignore[prop-decorator]
    @property
    def methods(self) -> list[str]:
        """The explanation methods this bundle offers: the registry's for its manifest, less
        those its admission found unavailable."""
        return [m for m in supported_methods(self.manifest) if m not in self.unavailable_methods]


class AdmissionOut(BaseModel):
    """A bundle's admission report and its record in the audit chain."""

    report: AdmissionReport
    report_sha256: str = Field(description="SHA-256 of the bundle's admission.json bytes")
    seq: int | None = Field(
        description="seq of the chain's 'admission' record of these model, manifest and "
        "report bytes; null until the API has recorded it"
    )
    recorded_at: datetime | None = Field(description="when that record was written")


class ModelDetailOut(ModelOut):
    """One served bundle with its admission."""

    admission: AdmissionOut | None = Field(
        description="null: the bundle has no admission report (it is served as not admitted)"
    )


class RejectedModelOut(BaseModel):
    """A bundle folder that is not served, and why (the file and field at fault)."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="the folder's model name")
    version: str = Field(description="the folder's version")
    reason: str
