"""Admitting a model: one way in for every ONNX model, a hospital's or a demo's.

The face is three functions: :func:`inspect_model` reads what the graph says (input layout,
outputs, head, converter conventions, tree ensembles, the Grad-CAM layer); :func:`draft_manifest`
turns those facts plus the flags for what the graph cannot say into a manifest; :func:`admit`
checks a bundle folder end to end and writes its admission report (``admission.json``).

This package may import the worker's twin and explainers; the worker never imports it.
"""

from __future__ import annotations

from services.admission.draft import DraftFlags, draft_manifest
from services.admission.errors import AdmissionError
from services.admission.inspect import GraphFacts, TensorFacts, inspect_model
from services.admission.report import AdmissionReport, MethodResult, StepResult
from services.admission.validate import admit, validate_bundle

__all__ = [
    "AdmissionError",
    "AdmissionReport",
    "DraftFlags",
    "GraphFacts",
    "MethodResult",
    "StepResult",
    "TensorFacts",
    "admit",
    "draft_manifest",
    "inspect_model",
    "validate_bundle",
]
