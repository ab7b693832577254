"""The decision report's PDF: real text, the archived renderings embedded, A4, deterministic."""

from __future__ import annotations

import copy
import hashlib
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from services.api.audit.report_pdf import render_report_pdf
from shared.methods import METHODS, quality_reading
from shared.rendering import render_heatmap
from tests.support.pdf import embedded_images, read, squashed

A4_PT = (595.28, 841.89)
MODEL_SHA = "ab" * 32
HEAD_HASH = "c0ffee" * 10 + "beef"


def heatmap_png() -> bytes:
    rng = np.random.default_rng(0)
    return render_heatmap(rng.uniform(size=(16, 16)), rng.normal(size=(16, 16)))


ADMISSION: dict[str, Any] = {
    "recorded": True,
    "note": None,
    "seq": 7,
    "recorded_at": "2026-01-02T03:00:00.000000+00:00",
    "format": "admission/2",
    "manifest_sha256": "a7" * 32,
    "report_sha256": "a8" * 32,
    "passed": True,
    "admitted_at": "2026-01-02T02:59:00.000000+00:00",
    "available_methods": ["integrated_gradients"],
    "unavailable_methods": {"saliency": "quality over its bound: x 2 > 1"},
    "steps": [{"step": "torch twin parity", "ok": True, "detail": "8 probes", "ms": 12.0}],
    "methods": [
        {
            "method": "integrated_gradients",
            "available": True,
            "reason": None,
            "quality": {"completeness_delta": 0.00123},
            "bounds": {"completeness_delta": 0.01},
            "ms": 40.0,
        },
        {
            "method": "saliency",
            "available": False,
            "reason": "quality over its bound: x 2 > 1",
            "quality": {},
            "bounds": {},
            "ms": 0.0,
        },
    ],
    "parity": {"logits": 3.1e-07},
    "probes": 8,
    "seed": 0,
    "library_versions": {},
}


def sample_report(rendering_sha: str) -> dict[str, Any]:
    """A report of the shape :func:`services.api.reports.decision_report` returns."""
    quality = {"completeness_delta": 0.0021, "parity_max_abs_diff": 3e-7}
    return {
        "format": "xai-decision-report/1",
        "generated_at": "2026-01-02T03:04:05.000006+00:00",
        "prediction": {
            "id": "6f1c1f0e-0000-4000-8000-000000000001",
            "created_at": "2026-01-02T03:00:00.000001Z",
            "model_name": "chest-xray-demo",
            "model_version": "v3",
            "model_sha256": MODEL_SHA,
            "input_kind": "image",
            "input_media_type": "image/png",
            "input_sha256": "11" * 32,
            "tensor_sha256": "22" * 32,
            "preprocessing": {"resize": {"to": [32, 32]}, "grayscale": "ITU-R 601-2 luma"},
            "label": "pneumonia",
            "probability": 0.9312,
            "probabilities": {"normal": 0.0688, "pneumonia": 0.9312},
            "outcome": {
                "mode": "single-label",
                "label": "pneumonia",
                "probability": 0.9312,
                "probabilities": {"normal": 0.0688, "pneumonia": 0.9312},
                "findings": [],
                "value": None,
                "unit": None,
                "reference_range": None,
                "in_range": None,
            },
            "case_ref_hmac": "33" * 32,
            "requested_by": "7d0e7a43-0000-4000-8000-000000000002",
            "requested_by_name": "Dr Example",
            "runtime_versions": {"onnxruntime": "1.22.0", "python": "3.11.9"},
        },
        "model_card": {
            "name": "chest-xray-demo",
            "version": "v3",
            "sha256": MODEL_SHA,
            "served": True,
            "note": None,
            "task": "image-classification",
            "model_family": "neural-network",
            "description": "A demonstration model.",
            "labels": ["normal", "pneumonia"],
            "positive_label": "pneumonia",
            "input": {
                "kind": "image",
                "height": 32,
                "width": 32,
                "channels": 1,
                "mean": [0.5],
                "std": [0.25],
            },
            "default_methods": ["integrated_gradients"],
            "card": {"intended_use": "Demonstration only; never on real patients."},
        },
        "admission": copy.deepcopy(ADMISSION),
        "explanations": [
            {
                "id": "9a9a9a9a-0000-4000-8000-000000000003",
                "method": "integrated_gradients",
                "method_summary": METHODS["integrated_gradients"].summary,
                "method_plain": METHODS["integrated_gradients"].plain,
                "status": "succeeded",
                "target": 1,
                "target_label": "pneumonia",
                "seed": 0,
                "parameters": {},
                "attempts": 1,
                "last_error": None,
                "device": "cpu",
                "worker": "worker-1",
                "timings": {
                    "queued_at": "2026-01-02T03:00:00.1Z",
                    "started_at": "2026-01-02T03:00:00.2Z",
                    "finished_at": "2026-01-02T03:00:01.2Z",
                },
                "result": {
                    "id": "9b9b9b9b-0000-4000-8000-000000000004",
                    "archived_at": "2026-01-02T03:00:01.2Z",
                    "model_sha256": MODEL_SHA,
                    "parameters": {"n_steps": 32},
                    "quality": quality,
                    "quality_readings": {k: quality_reading(k, v) for k, v in quality.items()},
                    "baseline": {"value": 0.0},
                    "summary": {"positive_sum": 1.0, "negative_sum": -0.5},
                    "library_versions": {"captum": "0.8.0"},
                    "attributions": {"sha256": "44" * 32, "shape": [1, 32, 32], "dtype": "float32"},
                    "rendering": {"sha256": rendering_sha, "media_type": "image/png"},
                    "compute_ms": 812.0,
                },
            }
        ],
        "feedback": [
            {
                "id": "5e5e5e5e-0000-4000-8000-000000000005",
                "clinician_token_id": "7d0e7a43-0000-4000-8000-000000000002",
                "clinician_name": "Dr Example",
                "decision": "override",
                "corrected_label": "normal",
                "reason": "the opacity is a positioning artefact",
                "created_at": "2026-01-02T03:10:00Z",
                "audit_seq": 9,
            }
        ],
        "chain": {
            "records": [
                {
                    "seq": 7,
                    "kind": "prediction",
                    "created_at": "2026-01-02T03:00:00.000001Z",
                    "hash": "d1" * 32,
                    "prev_hash": "d0" * 32,
                    "payload_sha256": "e1" * 32,
                    "hash_ok": True,
                }
            ],
            "head": {"seq": 12, "hash": HEAD_HASH},
        },
    }


@pytest.fixture(scope="module")
def rendered() -> tuple[dict[str, Any], bytes, bytes]:
    png = heatmap_png()
    sha = hashlib.sha256(png).hexdigest()
    report = sample_report(sha)
    return report, png, render_report_pdf(report, renderings={sha: png})


def test_text_is_extractable_and_holds_the_decision_and_its_hashes(rendered) -> None:
    report, _, pdf = rendered
    _, text = read(pdf)
    assert "pneumonia (probability 0.9312)" in text
    flat = squashed(text)
    for digest in (MODEL_SHA, HEAD_HASH, "d1" * 32, "d0" * 32, "e1" * 32, "44" * 32):
        assert digest in flat, digest
    assert report["explanations"][0]["result"]["rendering"]["sha256"] in flat
    plain = METHODS["integrated_gradients"].plain
    assert squashed(plain) in flat
    assert squashed(quality_reading("completeness_delta", 0.0021)) in flat
    assert "the opacity is a positioning artefact" in text
    assert "Demonstration only; never on real patients." in text


def test_a_multi_label_report_lists_every_finding_against_its_threshold() -> None:
    report = sample_report("55" * 32)
    findings = [("effusion", 0.81, 0.5), ("nodule", 0.12, 0.3), ("edema", 0.47, 0.4)]
    report["prediction"]["outcome"] = {
        **report["prediction"]["outcome"],
        "mode": "multi-label",
        "label": "effusion",
        "probability": 0.81,
        "probabilities": {label: p for label, p, _ in findings},
        "findings": [
            {"label": label, "index": i, "probability": p, "threshold": t, "positive": p >= t}
            for i, (label, p, t) in enumerate(findings)
        ],
    }
    report["model_card"] |= {"output_mode": "multi-label", "positive_label": None}
    _, text = read(render_report_pdf(report, renderings={}))
    assert "positive findings: effusion, edema" in text
    assert "0.8100 (threshold 0.5: positive)" in text
    assert "0.1200 (threshold 0.3: negative)" in text
    assert "0.4700 (threshold 0.4: positive)" in text


def test_a_regression_report_gives_the_value_its_unit_and_its_range() -> None:
    report = sample_report("55" * 32)
    report["prediction"]["outcome"] = {
        **report["prediction"]["outcome"],
        "mode": "regression",
        "label": "risk",
        "probability": None,
        "probabilities": {"risk": 31.5},
        "value": 31.5,
        "unit": "%",
        "reference_range": [0.0, 20.0],
        "in_range": False,
    }
    report["model_card"] |= {"output_mode": "regression", "labels": ["risk"]}
    _, text = read(render_report_pdf(report, renderings={}))
    assert "risk: 31.5 %" in text
    assert "0 to 20 % (OUTSIDE)" in text


def test_pages_are_a4_and_the_rendering_is_embedded(rendered) -> None:
    _, png, pdf = rendered
    reader, _ = read(pdf)
    for page in reader.pages:
        assert float(page.mediabox.width) == pytest.approx(A4_PT[0], abs=0.5)
        assert float(page.mediabox.height) == pytest.approx(A4_PT[1], abs=0.5)
    (embedded,) = embedded_images(reader)
    stored = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    np.testing.assert_array_equal(embedded, stored)  # the archived pixels, not a resampled copy


def test_without_its_rendering_the_report_says_so_and_embeds_nothing(rendered) -> None:
    report, _, _ = rendered
    reader, text = read(render_report_pdf(report, renderings={}))
    assert embedded_images(reader) == []
    assert "missing or no longer matches its SHA-256" in text


def test_the_same_report_gives_the_same_bytes_dated_by_generated_at(rendered) -> None:
    report, png, pdf = rendered
    sha = report["explanations"][0]["result"]["rendering"]["sha256"]
    assert render_report_pdf(copy.deepcopy(report), renderings={sha: png}) == pdf
    reader, _ = read(pdf)
    assert reader.metadata["/CreationDate"] == "D:20260102030405Z"


def test_long_values_flow_onto_more_pages_and_nothing_is_lost(rendered) -> None:
    report, png, _ = rendered
    long = copy.deepcopy(report)
    records = long["chain"]["records"]
    long["chain"]["records"] = [{**records[0], "seq": seq} for seq in range(25)]
    long["model_card"]["card"]["notes"] = "WWWW " * 400 + "x" * 300  # wide glyphs, a long word
    sha = long["explanations"][0]["result"]["rendering"]["sha256"]
    reader, text = read(render_report_pdf(long, renderings={sha: png}))
    assert len(reader.pages) > 2
    assert "x" * 300 in squashed(text) and squashed("WWWW " * 400) in squashed(text)
    assert squashed(text).count("d1" * 32) == 25


def test_the_admission_of_the_model_is_shown_with_its_record_and_figures(rendered) -> None:
    _, _, pdf = rendered
    _, text = read(pdf)
    assert "Model admission" in text
    assert "passed, checked at 2026-01-02T02:59:00.000000+00:00" in text
    assert "seq 7 (admission/2) at 2026-01-02T03:00:00.000000+00:00" in text
    assert "ok: 8 probes (12 ms)" in text
    assert "logits: max |twin - ORT| 3.1e-07 over 8 probes" in text
    assert "completeness delta 0.00123 (bound 0.01)" in text
    assert "unavailable: quality over its bound: x 2 > 1" in text
    flat = squashed(text)
    assert "a7" * 32 in flat and "a8" * 32 in flat


def test_a_model_served_without_an_admission_record_says_so() -> None:
    report = sample_report("55" * 32)
    report["admission"] = {"recorded": False, "note": "the chain holds no admission record"}
    _, text = read(render_report_pdf(report, renderings={}))
    assert "Model admission" in text and "the chain holds no admission record" in text
