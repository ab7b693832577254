"""The per-decision report (:mod:`services.api.audit.reports`) as a human-readable A4 PDF.

In order: the diagnosis, the model card, each explanation with its archived rendering (heatmap
overlay or waterfall), what the method does in plain words and its quality figures, clinician
feedback, and the decision's place in the audit chain with every hash written out in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.rendering.pdf_flow import Flow, build_pdf

NONE = "-"


def render_report_pdf(report: Mapping[str, Any], *, renderings: Mapping[str, bytes]) -> bytes:
    """``renderings``: archived PNG bytes by SHA-256 (an explanation without one says so)."""
    prediction = report["prediction"]

    def draw(flow: Flow) -> None:
        _title(flow, report)
        _diagnosis(flow, prediction)
        _model_card(flow, report["model_card"])
        for explanation in report["explanations"]:
            _explanation(flow, explanation, renderings)
        _feedback(flow, report["feedback"])
        _chain(flow, report["chain"])

    return build_pdf(
        draw,
        title=f"Decision report {prediction['id']}",
        footer=f"xai-stack decision report {prediction['id']}",
        created=datetime.fromisoformat(report["generated_at"]),
    )


def _text(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return str(value)


def _title(flow: Flow, report: Mapping[str, Any]) -> None:
    flow.heading("Decision report", size=18)
    flow.field("prediction", report["prediction"]["id"], mono=True)
    flow.field("generated at", report["generated_at"])
    flow.field("format", report["format"])


def _diagnosis(flow: Flow, prediction: Mapping[str, Any]) -> None:
    flow.heading("Diagnosis")
    flow.paragraph(f"{prediction['label']} (probability {prediction['probability']:.4f})", size=13)
    flow.space(0.05)
    for label, probability in prediction["probabilities"].items():
        flow.field(f"P({label})", f"{probability:.4f}")
    flow.field("decided at", prediction["created_at"])
    flow.field("model", f"{prediction['model_name']} {prediction['model_version']}")
    flow.field("model sha256", prediction["model_sha256"], mono=True)
    requester = prediction["requested_by_name"] or NONE
    flow.field("requested by", f"{requester} (token {_text(prediction['requested_by'])})")
    flow.field("case reference HMAC", _text(prediction["case_ref_hmac"]), mono=True)
    flow.field("input", f"{prediction['input_kind']}, {prediction['input_media_type']}")
    flow.field("input sha256", prediction["input_sha256"], mono=True)
    flow.field("model input sha256", prediction["tensor_sha256"], mono=True)
    flow.field("preprocessing", _text(prediction["preprocessing"]))
    flow.field("runtime versions", _text(prediction["runtime_versions"]))


def _model_card(flow: Flow, card: Mapping[str, Any]) -> None:
    flow.heading("Model card")
    flow.field("model", f"{card['name']} {card['version']}")
    flow.field("sha256", card["sha256"], mono=True)
    if not card["served"]:
        flow.paragraph(card["note"], muted=True)
        return
    flow.field("task", f"{card['task']} ({card['model_family']})")
    flow.field("description", _text(card["description"]))
    flow.field(
        "classes", ", ".join(card["labels"]) + f" (class of interest: {card['positive_label']})"
    )
    flow.field("input", _input(card["input"]))
    flow.field("default methods", ", ".join(card["default_methods"]) or NONE)
    for key, value in card["card"].items():
        flow.field(key.replace("_", " "), _text(value))


def _input(spec: Mapping[str, Any]) -> str:
    if spec["kind"] == "image":
        return (
            f"image {spec['height']}x{spec['width']}, {spec['channels']} channel(s), "
            f"normalised with mean {spec['mean']} and std {spec['std']}"
        )
    names = [feature["name"] for feature in spec["features"]]
    return f"{len(names)} numeric features: {', '.join(names)}"


def _explanation(
    flow: Flow, explanation: Mapping[str, Any], renderings: Mapping[str, bytes]
) -> None:
    flow.heading(f"Explanation: {explanation['method_summary']}")
    if explanation["method_plain"]:
        flow.paragraph(f"In plain words: {explanation['method_plain']}")
        flow.space(0.05)
    target = explanation["target_label"] or f"class {explanation['target']}"
    timings = explanation["timings"]
    flow.field("explanation id", explanation["id"], mono=True)
    flow.field("explains", f"the score of {target}; seed {explanation['seed']}")
    flow.field("status", f"{explanation['status']} after {explanation['attempts']} attempt(s)")
    flow.field("computed on", f"{_text(explanation['device'])} by {_text(explanation['worker'])}")
    flow.field("queued", _text(timings["queued_at"]))
    flow.field(
        "started / finished", f"{_text(timings['started_at'])} / {_text(timings['finished_at'])}"
    )
    result = explanation["result"]
    if result is None:
        flow.paragraph(f"Nothing archived. {_text(explanation['last_error'])}", muted=True)
        return
    _rendering(flow, result["rendering"], renderings)
    flow.heading("Quality figures", size=10)
    for name, reading in result["quality_readings"].items():
        flow.field(name.replace("_", " "), reading)
    _top_features(flow, result["summary"])
    attributions = result["attributions"]
    flow.field("parameters", _text(result["parameters"]))
    flow.field("attributions", f"shape {attributions['shape']}, {attributions['dtype']}")
    flow.field("attributions sha256", attributions["sha256"], mono=True)
    flow.field("library versions", _text(result["library_versions"]))
    flow.field("archived at", f"{result['archived_at']} ({result['compute_ms']:.0f} ms to compute)")


def _top_features(flow: Flow, summary: Mapping[str, Any]) -> None:
    """Tabular explanations: the largest contributions, as on the waterfall."""
    if not summary.get("top_features"):
        return
    flow.heading(f"Largest contributions (in {summary['units']})", size=10)
    flow.field("average output", f"{summary['expected_value']:.4g} over the reference cases")
    for row in summary["top_features"]:
        if row["rank"] is None:  # the sum of the features past the top ones
            flow.field(row["name"], f"{row['shap']:+.4g}")
            continue
        value = row["value"]
        shown = f"{value:.4g}" if isinstance(value, int | float) else _text(value)
        flow.field(f"{row['rank']}. {row['name']}", f"{row['shap']:+.4g} (value {shown})")
    flow.space(0.08)


def _rendering(
    flow: Flow, rendering: Mapping[str, Any] | None, renderings: Mapping[str, bytes]
) -> None:
    if rendering is None:
        flow.paragraph("No rendering was archived with this explanation.", muted=True)
        return
    png = renderings.get(rendering["sha256"])
    if png is None:
        flow.paragraph(
            "The archived rendering is missing or no longer matches its SHA-256.", muted=True
        )
    else:
        flow.image(png, max_height_in=4.5)
    flow.field("rendering sha256", rendering["sha256"], mono=True)


def _feedback(flow: Flow, feedback: list[Mapping[str, Any]]) -> None:
    flow.heading("Clinician feedback")
    if not feedback:
        flow.paragraph("No clinician feedback was recorded for this decision.", muted=True)
    for entry in feedback:
        clinician = entry["clinician_name"] or entry["clinician_token_id"]
        verdict = entry["decision"]
        if entry["corrected_label"]:
            verdict += f" to {entry['corrected_label']}"
        flow.paragraph(f"{entry['created_at']}: {verdict} by {clinician}", size=9.5)
        flow.field("reason", _text(entry["reason"]))
        flow.field("audit record", f"seq {entry['audit_seq']}")
        flow.space(0.05)


def _chain(flow: Flow, chain: Mapping[str, Any]) -> None:
    flow.heading("Audit chain")
    flow.paragraph(
        "Each record's hash covers its fields and the previous record's hash, so no record can "
        "be changed or removed unnoticed. Check these hashes against the archive with "
        "`xai audit verify` or GET /v1/audit/verify."
    )
    for record in chain["records"]:
        ok = "" if record["hash_ok"] else "  (stored hash does NOT match its fields)"
        written = f" ({record['format']})" if record.get("format") else ""
        flow.paragraph(
            f"seq {record['seq']}: {record['kind']}{written} at {record['created_at']}{ok}",
            size=9.5,
        )
        flow.field("hash", record["hash"], mono=True)
        flow.field("previous hash", record["prev_hash"], mono=True)
        flow.field("payload sha256", record["payload_sha256"], mono=True)
        flow.space(0.05)
    head = chain["head"]
    flow.paragraph(f"Chain head when this report was generated: seq {head['seq']}", size=9.5)
    flow.field("head hash", head["hash"], mono=True)
