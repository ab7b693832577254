"""The admission report: evidence of how a model was admitted, as JSON and as a table."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

REPORT_FILE = "admission.json"
REPORT_VERSION = 1


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
    quality: dict[str, float] = Field(default_factory=dict)
    bounds: dict[str, float] = Field(default_factory=dict)
    ms: float = 0.0


class AdmissionReport(_Frozen):
    report_version: int = REPORT_VERSION
    bundle: str
    name: str | None = None
    version: str | None = None
    sha256: str | None = None
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

    @property
    def available_methods(self) -> tuple[str, ...]:
        return tuple(m.method for m in self.methods if m.available)

    def failure(self) -> str | None:
        """The failing step's message, naming its node or field."""
        for step in self.steps:
            if not step.ok:
                located = f" [{step.where}]" if step.where else ""
                return f"admission failed at step {step.step!r}{located}: {step.detail}"
        if self.passed:
            return None
        return "admission failed: no explanation method works for this model"


def write_report(folder: Path, report: AdmissionReport) -> Path:
    path = folder / REPORT_FILE
    path.write_text(report.model_dump_json(indent=2) + "\n")
    return path


def render_table(report: AdmissionReport) -> str:
    """The report as the table ``xai models add/validate`` print."""
    title = f"{report.name}/{report.version}" if report.name else report.bundle
    lines = [
        f"admission of {title}" + (f" (sha256 {report.sha256[:12]}…)" if report.sha256 else "")
    ]
    width = max((len(s.step) for s in report.steps), default=4)
    for step in report.steps:
        mark = "ok  " if step.ok else "FAIL"
        where = f" [{step.where}]" if step.where and not step.ok else ""
        lines.append(f"  {mark} {step.step:<{width}}  {step.detail}{where}  ({step.ms:.0f} ms)")
    if report.methods:
        lines.append("  methods:")
    for method in report.methods:
        if method.available:
            figures = ", ".join(
                f"{k} {v:.3g}" + (f" (≤ {method.bounds[k]:g})" if k in method.bounds else "")
                for k, v in method.quality.items()
            )
            lines.append(f"    ok   {method.method:<22} {method.ms:8.0f} ms  {figures}")
        else:
            lines.append(f"    --   {method.method:<22} unavailable: {method.reason}")
    verdict = "ADMITTED" if report.passed else (report.failure() or "REFUSED")
    lines.append(f"  {verdict}  ({report.total_ms / 1000:.1f} s)")
    return "\n".join(lines)
