"""The admission check of a bundle folder, step by step; the first failing step stops it.

Steps: the manifest's schema; ``onnx.checker`` plus the refusals of untrusted graphs (external
data, op domains ONNX Runtime does not ship); an ONNX Runtime session; input/output names and
shapes against the manifest; a forward pass on seeded probes; output sanity; for image models
the torch twin and its parity with ORT on every probe (a twin that cannot be built or fails
parity refuses only the gradient methods); then every explanation method once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.admission import checks
from services.admission.errors import AdmissionError
from services.admission.methods import run_methods
from services.admission.report import AdmissionReport, MethodResult, StepResult, write_report
from shared.bundles.registry import BundleError, load_bundle
from shared.versions import package_versions


class _Steps:
    def __init__(self) -> None:
        self.done: list[StepResult] = []

    def run(self, step: str, check: Callable[[], tuple[Any, str]]) -> Any:
        started = time.perf_counter()
        try:
            value, detail = check()
        except AdmissionError as exc:
            self.done.append(
                StepResult(
                    step=step, ok=False, detail=exc.message, where=exc.where, ms=_ms(started)
                )
            )
            raise
        self.done.append(StepResult(step=step, ok=True, detail=detail, ms=_ms(started)))
        return value


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def validate_bundle(folder: Path) -> AdmissionReport:
    """Check the bundle in ``folder``; the report says what passed and what did not."""
    started = time.perf_counter()
    steps = _Steps()
    facts: dict[str, Any] = {"bundle": str(folder)}
    try:
        bundle = steps.run("manifest", lambda: _manifest(folder))
        facts.update(name=bundle.name, version=bundle.version, sha256=bundle.sha256)
        data = bundle.read_model_bytes()
        graph = steps.run("onnx.checker", lambda: checks.onnx_checker(data, bundle.manifest))
        session = steps.run("onnxruntime", lambda: checks.ort_session(data))
        steps.run("names and shapes", lambda: checks.names_and_shapes(session, bundle.manifest))
        probes, outputs = steps.run("probe forward", lambda: checks.probe_forward(session, bundle))
        outcome = steps.run("output sanity", lambda: checks.output_sanity(outputs, bundle.manifest))
        twin, parity, twin_reason = None, {}, None
        if checks.needs_twin(bundle.manifest):
            twin, parity, twin_reason = steps.run(
                "torch twin parity", lambda: checks.twin_parity(data, session, probes)
            )
        else:
            steps.done.append(
                StepResult(
                    step="torch twin parity",
                    ok=True,
                    detail="not needed: the methods call ONNX Runtime",
                )
            )
    except AdmissionError as exc:
        return AdmissionReport(
            passed=False, failed_step=steps.done[-1].step if steps.done else exc.step,
            steps=tuple(steps.done), total_ms=_ms(started), **facts,
        )  # fmt: skip
    model = checks.loaded(bundle, session, twin)
    target = checks.admission_target(outcome, bundle.manifest.output)
    methods = [
        MethodResult.model_validate(line)
        for line in run_methods(
            model, probes[:1], target, gradcam_reason=graph.gradcam_reason, twin_reason=twin_reason
        )
    ]
    passed = any(m.available for m in methods)
    return AdmissionReport(
        passed=passed,
        failed_step=None if passed else "methods",
        steps=tuple(steps.done),
        methods=tuple(methods),
        parity=parity,
        probes=len(probes),
        total_ms=_ms(started),
        library_versions=package_versions(
            "onnx", "onnxruntime", "torch", "onnx2torch", "captum", "shap"
        ),
        **facts,
    )


def _manifest(folder: Path) -> tuple[Any, str]:
    try:
        bundle = load_bundle(folder)
    except BundleError as exc:
        raise AdmissionError("manifest", str(exc), where="manifest.json") from None
    return bundle, f"{bundle.manifest.task}, {bundle.manifest.model_family}"


def admission_check(folder: Path) -> str:
    """:func:`admit` as the demo builder's check: raises :class:`AdmissionError` on refusal."""
    report = admit(folder)
    if not report.passed:
        raise AdmissionError(report.failed_step or "methods", report.failure() or "refused")
    return f"admitted ({', '.join(report.available_methods)}; {report.total_ms / 1000:.1f} s)"


def admit(bundle_dir: Path) -> AdmissionReport:
    """Validate the bundle and write its report into it as ``admission.json``."""
    report = validate_bundle(bundle_dir)
    if bundle_dir.is_dir():
        write_report(bundle_dir, report)
    return report
