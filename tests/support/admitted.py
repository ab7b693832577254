"""Admitted bundles: the tiny CNN taken through the real admission check, and variants of its
report that the registry must serve with a method unavailable, or refuse.

- ``tiny-cnn/v1``: built and admitted by :func:`services.admission.admit` (its report lists the
  tabular methods unavailable, with admission's reasons);
- ``tiny-cnn/v2``: the same bytes under another version, its report saying that saliency failed
  admission (the reason below: a quality figure over its bound; set here, not measured);
- ``tiny-cnn/stale``: a report written for other model bytes; ``tiny-cnn/refused``: a report
  that did not pass. Neither is served.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from shared.bundles.admission import REPORT_FILE, AdmissionReport, StepResult, write_report
from shared.bundles.registry import MODEL_FILE, load_bundle, write_manifest
from tests.support.bundles import build_tiny_image_bundle

NAME = "tiny-cnn"
SALIENCY_REASON = "quality over its bound: completeness_delta 0.5 > 0.01"
STALE_SHA = "0" * 64


def build_admitted_bundles(root: Path) -> Path:
    from services.admission import admit

    folder = build_tiny_image_bundle(root, name=NAME, version="v1")
    report = admit(folder)
    assert report.passed, report.failure()
    methods = tuple(
        m.model_copy(update={"available": False, "reason": SALIENCY_REASON, "quality": {}})
        if m.method == "saliency"
        else m
        for m in report.methods
    )
    _variant(root, folder, "v2", report.model_copy(update={"methods": methods}))
    _variant(root, folder, "stale", report.model_copy(update={"sha256": STALE_SHA}))
    failed = StepResult(step="output sanity", ok=False, detail="rows do not sum to 1")
    _variant(
        root,
        folder,
        "refused",
        report.model_copy(
            update={"passed": False, "failed_step": "output sanity", "steps": (failed,)}
        ),
    )
    return root


def _variant(root: Path, source: Path, version: str, report: AdmissionReport) -> None:
    target = root / NAME / version
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / MODEL_FILE, target / MODEL_FILE)
    manifest = load_bundle(source).manifest
    write_manifest(target, manifest.model_copy(update={"version": version, "default": False}))
    write_report(target, report.model_copy(update={"bundle": str(target), "version": version}))
    assert (target / REPORT_FILE).is_file()
