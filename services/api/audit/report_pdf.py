"""The per-decision report (:mod:`services.api.audit.reports`) as a human-readable A4 PDF/A-2b.

In order: the diagnosis, the model card, each explanation with its archived rendering (heatmap
overlay or waterfall), what the method does in plain words and its quality figures, clinician
feedback, and the decision's place in the audit chain with every hash written out in full.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.api.audit.pdf_story import Story
from services.api.audit.pdfa import PdfMeta, build_pdfa

NONE = "-"


def render_report_pdf(report: Mapping[str, Any], *, renderings: Mapping[str, bytes]) -> bytes:
    """``renderings``: archived PNG bytes by SHA-256 (an explanation without one says so)."""
    prediction = report["prediction"]
    story = Story()
    _title(story, report)
    _diagnosis(story, prediction)
    _model_card(story, report["model_card"])
    _admission(story, report["admission"])
    for explanation in report["explanations"]:
        _explanation(story, explanation, renderings)
    _feedback(story, report["feedback"])
    _chain(story, report["chain"])
    meta = PdfMeta(
        title=f"Decision report {prediction['id']}",
        subject=(
            f"The decision {prediction['id']}: diagnosis, model card, explanations, clinician "
            f"feedback and audit-chain records, as of {report['generated_at']}"
        ),
        keywords=("xai-stack", "decision report", "audit", report["format"]),
        footer=f"xai-stack decision report {prediction['id']}",
        created=datetime.fromisoformat(report["generated_at"]),
    )
    return build_pdfa(story.finish(), meta)


def _text(value: Any) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return str(value)


def _title(story: Story, report: Mapping[str, Any]) -> None:
    story.heading("Decision report", size=18)
    story.field("prediction", report["prediction"]["id"], mono=True)
    story.field("generated at", report["generated_at"])
    story.field("format", report["format"])


def _diagnosis(story: Story, prediction: Mapping[str, Any]) -> None:
    story.heading("Diagnosis")
    _outcome(story, prediction["outcome"])
    story.field("decided at", prediction["created_at"])
    story.field("model", f"{prediction['model_name']} {prediction['model_version']}")
    story.field("model sha256", prediction["model_sha256"], mono=True)
    requester = prediction["requested_by_name"] or NONE
    story.field("requested by", f"{requester} (token {_text(prediction['requested_by'])})")
    story.field("case reference HMAC", _text(prediction["case_ref_hmac"]), mono=True)
    story.field("input", f"{prediction['input_kind']}, {prediction['input_media_type']}")
    story.field("input sha256", prediction["input_sha256"], mono=True)
    story.field("model input sha256", prediction["tensor_sha256"], mono=True)
    story.field("preprocessing", _text(prediction["preprocessing"]))
    story.field("runtime versions", _text(prediction["runtime_versions"]))


def _outcome(story: Story, outcome: Mapping[str, Any]) -> None:
    """The output as the model's manifest read it: classes, every finding, or the value."""
    if outcome["mode"] == "regression":
        unit = f" {outcome['unit']}" if outcome["unit"] else ""
        story.paragraph(f"{outcome['label']}: {outcome['value']:.6g}{unit}", size=13)
        if outcome["reference_range"] is not None:
            low, high = outcome["reference_range"]
            inside = "inside" if outcome["in_range"] else "OUTSIDE"
            story.field("reference range", f"{low:.6g} to {high:.6g}{unit} ({inside})")
        return
    if outcome["mode"] == "multi-label":
        positive = [f["label"] for f in outcome["findings"] if f["positive"]]
        story.paragraph(f"positive findings: {', '.join(positive) or 'none'}", size=13)
        story.space(0.05)
        for finding in outcome["findings"]:
            verdict = "positive" if finding["positive"] else "negative"
            story.field(
                f"P({finding['label']})",
                f"{finding['probability']:.4f} (threshold {finding['threshold']:.4g}: {verdict})",
            )
        return
    story.paragraph(f"{outcome['label']} (probability {outcome['probability']:.4f})", size=13)
    story.space(0.05)
    for label, probability in outcome["probabilities"].items():
        story.field(f"P({label})", f"{probability:.4f}")


def _model_card(story: Story, card: Mapping[str, Any]) -> None:
    story.heading("Model card")
    story.field("model", f"{card['name']} {card['version']}")
    story.field("sha256", card["sha256"], mono=True)
    if not card["served"]:
        story.paragraph(card["note"], muted=True)
        return
    story.field("task", f"{card['task']} ({card['model_family']})")
    story.field("description", _text(card["description"]))
    mode = card.get("output_mode", "single-label")
    if mode == "single-label":
        story.field(
            "classes", ", ".join(card["labels"]) + f" (class of interest: {card['positive_label']})"
        )
    else:
        story.field("findings" if mode == "multi-label" else "value", ", ".join(card["labels"]))
    story.field("input", _input(card["input"]))
    story.field("default methods", ", ".join(card["default_methods"]) or NONE)
    for key, value in card["card"].items():
        story.field(key.replace("_", " "), _text(value))


def _admission(story: Story, admission: Mapping[str, Any]) -> None:
    """How the model was admitted: the chain's admission record and the report it holds."""
    story.heading("Model admission")
    if not admission["recorded"]:
        story.paragraph(admission["note"], muted=True)
        return
    verdict = "passed" if admission["passed"] else "REFUSED"
    story.field("admission", f"{verdict}, checked at {_text(admission['admitted_at'])}")
    record = f"seq {admission['seq']} ({admission['format']}) at {admission['recorded_at']}"
    story.field("audit record", record)
    story.field("manifest sha256", admission["manifest_sha256"], mono=True)
    story.field("report sha256", admission["report_sha256"], mono=True)
    if admission["note"]:
        story.paragraph(admission["note"], muted=True)
    for step in admission.get("steps", []):
        mark = "ok" if step["ok"] else "FAILED"
        story.field(step["step"], f"{mark}: {step['detail']} ({step['ms']:.0f} ms)")
    parity = admission.get("parity") or {}
    if parity:
        story.field(
            "twin parity",
            ", ".join(f"{out}: max |twin - ORT| {gap:.3g}" for out, gap in parity.items())
            + f" over {admission['probes']} probes",
        )
    story.heading("Methods at admission", size=10)
    for method in admission.get("methods", []):
        if not method["available"]:
            story.field(method["method"], f"unavailable: {_text(method['reason'])}")
            continue
        figures = ", ".join(
            f"{name.replace('_', ' ')} {_figure(value)}"
            + (f" (bound {method['bounds'][name]:g})" if name in method["bounds"] else "")
            for name, value in method["quality"].items()
        )
        story.field(
            method["method"], f"available; {figures or 'no figure'} ({method['ms']:.0f} ms)"
        )
    if "methods" not in admission:  # the report's blob is gone: what the record itself says
        for name, reason in admission["unavailable_methods"].items():
            story.field(name, f"unavailable: {reason}")
        story.field("available", ", ".join(admission["available_methods"]) or NONE)


def _figure(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.3g}"


def _input(spec: Mapping[str, Any]) -> str:
    if spec["kind"] == "image":
        return (
            f"image {spec['height']}x{spec['width']}, {spec['channels']} channel(s), "
            f"normalised with mean {spec['mean']} and std {spec['std']}"
        )
    names = [feature["name"] for feature in spec["features"]]
    return f"{len(names)} numeric features: {', '.join(names)}"


def _explanation(
    story: Story, explanation: Mapping[str, Any], renderings: Mapping[str, bytes]
) -> None:
    story.heading(f"Explanation: {explanation['method_summary']}")
    if explanation["method_plain"]:
        story.paragraph(f"In plain words: {explanation['method_plain']}")
        story.space(0.05)
    target = explanation["target_label"] or f"class {explanation['target']}"
    timings = explanation["timings"]
    story.field("explanation id", explanation["id"], mono=True)
    story.field("explains", f"the score of {target}; seed {explanation['seed']}")
    story.field("status", f"{explanation['status']} after {explanation['attempts']} attempt(s)")
    story.field("computed on", f"{_text(explanation['device'])} by {_text(explanation['worker'])}")
    story.field("queued", _text(timings["queued_at"]))
    story.field(
        "started / finished", f"{_text(timings['started_at'])} / {_text(timings['finished_at'])}"
    )
    result = explanation["result"]
    if result is None:
        story.paragraph(f"Nothing archived. {_text(explanation['last_error'])}", muted=True)
        return
    _rendering(story, result["rendering"], renderings)
    story.heading("Quality figures", size=10)
    for name, reading in result["quality_readings"].items():
        story.field(name.replace("_", " "), reading)
    _top_features(story, result["summary"])
    attributions = result["attributions"]
    story.field("parameters", _text(result["parameters"]))
    story.field("attributions", f"shape {attributions['shape']}, {attributions['dtype']}")
    story.field("attributions sha256", attributions["sha256"], mono=True)
    story.field("library versions", _text(result["library_versions"]))
    story.field(
        "archived at", f"{result['archived_at']} ({result['compute_ms']:.0f} ms to compute)"
    )


def _top_features(story: Story, summary: Mapping[str, Any]) -> None:
    """Tabular explanations: the largest contributions, as on the waterfall."""
    if not summary.get("top_features"):
        return
    story.heading(f"Largest contributions (in {summary['units']})", size=10)
    story.field("average output", f"{summary['expected_value']:.4g} over the reference cases")
    for row in summary["top_features"]:
        if row["rank"] is None:  # the sum of the features past the top ones
            story.field(row["name"], f"{row['shap']:+.4g}")
            continue
        value = row["value"]
        shown = f"{value:.4g}" if isinstance(value, int | float) else _text(value)
        story.field(f"{row['rank']}. {row['name']}", f"{row['shap']:+.4g} (value {shown})")
    story.space(0.08)


def _rendering(
    story: Story, rendering: Mapping[str, Any] | None, renderings: Mapping[str, bytes]
) -> None:
    if rendering is None:
        story.paragraph("No rendering was archived with this explanation.", muted=True)
        return
    png = renderings.get(rendering["sha256"])
    if png is None:
        story.paragraph(
            "The archived rendering is missing or no longer matches its SHA-256.", muted=True
        )
    else:
        story.image(png, max_height_in=4.5)
    story.field("rendering sha256", rendering["sha256"], mono=True)


def _feedback(story: Story, feedback: list[Mapping[str, Any]]) -> None:
    story.heading("Clinician feedback")
    if not feedback:
        story.paragraph("No clinician feedback was recorded for this decision.", muted=True)
    for entry in feedback:
        clinician = entry["clinician_name"] or entry["clinician_token_id"]
        verdict = entry["decision"]
        if entry["corrected_label"]:
            verdict += f" to {entry['corrected_label']}"
        story.paragraph(f"{entry['created_at']}: {verdict} by {clinician}", size=9.5)
        story.field("reason", _text(entry["reason"]))
        story.field("audit record", f"seq {entry['audit_seq']}")
        story.space(0.05)


def _chain(story: Story, chain: Mapping[str, Any]) -> None:
    story.heading("Audit chain")
    story.paragraph(
        "Each record's hash covers its fields and the previous record's hash, so no record can "
        "be changed or removed unnoticed. Check these hashes against the archive with "
        "`xai audit verify` or GET /v1/audit/verify."
    )
    for record in chain["records"]:
        ok = "" if record["hash_ok"] else "  (stored hash does NOT match its fields)"
        written = f" ({record['format']})" if record.get("format") else ""
        story.paragraph(
            f"seq {record['seq']}: {record['kind']}{written} at {record['created_at']}{ok}",
            size=9.5,
        )
        story.field("hash", record["hash"], mono=True)
        story.field("previous hash", record["prev_hash"], mono=True)
        story.field("payload sha256", record["payload_sha256"], mono=True)
        story.space(0.05)
    head = chain["head"]
    story.paragraph(f"Chain head when this report was generated: seq {head['seq']}", size=9.5)
    story.field("head hash", head["hash"], mono=True)
