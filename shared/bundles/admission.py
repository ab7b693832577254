"""The admission report of a bundle (``admission.json``): evidence of how its model was admitted.

``xai models add | validate`` (:mod:`services.admission`) write it; the registry reads it
(:func:`shared.bundles.registry.load_admitted`), the API lists the methods it found unavailable,
and the audit chain keeps it (:mod:`shared.audit.admissions`). Pure pydantic: the API, which
never imports torch, reads what the admission package writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

REPORT_FILE = "admission.json"
REPORT_VERSION = 2
"""2 (0.3.0): ``admitted_at``; version 1 (0.2.0) reports carry no time."""
REPORT_MEDIA_TYPE = "application/json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepResult(_Frozen):
    """One check; ``where`` names the ONNX node/tensor or manifest field a failure is about."""

    step: str
    ok: bool
    detail: str
    where: str | None = None
    ms: float = 0.0


class MethodResult(_Frozen):
    """One explanation method run once on a probe, or why it is unavailable."""

    method: str
    available: bool
    reason: str | None = None
    quality: dict[str, float | None] = Field(
        default_factory=dict, description="figure -> value (null: not a finite number)"
    )
    bounds: dict[str, float] = Field(default_factory=dict)
    ms: float = 0.0


class AdmissionReport(_Frozen):
    report_version: int = REPORT_VERSION
    bundle: str
    name: str | None = None
    version: str | None = None
    sha256: str | None = Field(default=None, description="SHA-256 of the model.onnx admitted")
    admitted_at: datetime | None = Field(
        default=None, description="when the check ran (UTC); null in version 1 reports"
    )
    passed: bool
    failed_step: str | None = None
    steps: tuple[StepResult, ...]
    methods: tuple[MethodResult, ...] = ()
    parity: dict[str, float] = Field(
        default_factory=dict, description="output -> max |twin - ORT| over the probes"
    )
    probes: int = 0
    seed: int = 0
    total_ms: float = 0.0
    library_versions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _stamped(cls, data: Any) -> Any:
        """A report made now (no ``report_version`` given) is stamped with the time; one read
        from a file keeps what the file says."""
        if isinstance(data, dict) and "report_version" not in data and "admitted_at" not in data:
            return {**data, "admitted_at": datetime.now(UTC)}
        return data

    @property
    def available_methods(self) -> tuple[str, ...]:
        return tuple(m.method for m in self.methods if m.available)

    @property
    def unavailable_methods(self) -> dict[str, str]:
        """Method -> why admission found it unusable for this model."""
        return {m.method: m.reason or "unavailable" for m in self.methods if not m.available}

    def failure(self) -> str | None:
        """The failing step's message, naming its node or field."""
        for step in self.steps:
            if not step.ok:
                located = f" [{step.where}]" if step.where else ""
                return f"admission failed at step {step.step!r}{located}: {step.detail}"
        if self.passed:
            return None
        return "admission failed: no explanation method works for this model"


@dataclass(frozen=True)
class Admission:
    """A bundle's admission report as read from its folder, with the bytes it was read from
    (what the audit chain stores and hashes)."""

    report: AdmissionReport
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def parse(cls, data: bytes) -> Admission:
        """ValidationError (a ValueError) when ``data`` is not a report."""
        return cls(report=AdmissionReport.model_validate_json(data), data=data)


def write_report(folder: Path, report: AdmissionReport) -> Path:
    path = folder / REPORT_FILE
    path.write_text(report.model_dump_json(indent=2) + "\n")
    return path
