"""The admission report as the table ``xai models`` prints; the report itself is declared in
:mod:`shared.bundles.admission` (the API reads it without importing this package)."""

from __future__ import annotations

from shared.bundles.admission import (
    REPORT_FILE,
    REPORT_VERSION,
    AdmissionReport,
    MethodResult,
    StepResult,
    write_report,
)

__all__ = [
    "REPORT_FILE",
    "REPORT_VERSION",
    "AdmissionReport",
    "MethodResult",
    "StepResult",
    "render_table",
    "write_report",
]


def _figure(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.3g}"


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
                f"{k} {_figure(v)}" + (f" (≤ {method.bounds[k]:g})" if k in method.bounds else "")
                for k, v in method.quality.items()
            )
            lines.append(f"    ok   {method.method:<22} {method.ms:8.0f} ms  {figures}")
        else:
            lines.append(f"    --   {method.method:<22} unavailable: {method.reason}")
    verdict = "ADMITTED" if report.passed else (report.failure() or "REFUSED")
    lines.append(f"  {verdict}  ({report.total_ms / 1000:.1f} s)")
    return "\n".join(lines)
