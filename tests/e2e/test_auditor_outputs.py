"""The auditor's record of outputs beyond one class: a multi-label record lists every finding
with its threshold and mark, and each explanation names the finding it explains; a regression
record gives the value with its unit and where it lies against the reference range."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, unlabelled_controls
from tests.e2e.conftest import Stack
from tests.e2e.test_auditor import search_case, sign_in_as_auditor
from tests.support.processes import wait_final


@pytest.fixture(scope="module")
def stack(outputs_stack: Stack) -> Stack:
    """These tests need no demo bundle: the lighter stack of the output bundles."""
    return outputs_stack


def recorded(stack: Stack, **request: Any) -> dict[str, Any]:
    """A prediction made by the clinician, each of its jobs waited for."""
    response = stack.as_("clinician").post("/v1/predictions", **request)
    assert response.status_code == 201, response.text
    prediction: dict[str, Any] = response.json()
    for job in prediction["explanations"]:
        final = wait_final(stack.as_("clinician"), job["id"])
        assert final["status"] == "succeeded", final["last_error"]
    return prediction


def open_record(page: Page, case_ref: str) -> Any:
    search_case(page, case_ref)
    page.click("#records button[data-action=open]")
    record = page.locator("#record")
    expect(record.locator("section[data-role=outcome]")).to_be_visible()
    return record


def test_the_record_shows_findings_thresholds_and_each_target(stack: Stack, page: Page) -> None:
    case_ref = f"audit-findings-{uuid.uuid4()}"
    image = stack.example("tiny-findings/v1/examples/case.png").read_bytes()
    recorded(
        stack,
        files={"file": ("case.png", image)},
        data={"model": "tiny-findings", "methods": "gradcam", "case_ref": f"{case_ref}-findings"},
    )
    features = json.loads(stack.example("tiny-risk/v1/examples/high.json").read_text())
    recorded(
        stack,
        json={"model": "tiny-risk", "features": features, "case_ref": f"{case_ref}-risk"},
    )

    sign_in_as_auditor(stack, page)
    record = open_record(page, f"{case_ref}-findings")
    record_id = record.get_attribute("data-record-id")
    archived = stack.as_("auditor").get(f"/v1/audit/records/{record_id}").json()
    outcome = archived["prediction"]["outcome"]
    assert outcome["mode"] == "multi-label"
    section = record.locator("section[data-role=outcome]")
    for finding in outcome["findings"]:
        row = section.locator(f"tr[data-label='{finding['label']}']")
        shown = float(re.sub(r"[^0-9.]", "", row.locator("[data-role=threshold]").inner_text()))
        assert shown == round(100 * finding["threshold"], 1), finding
        expect(row.locator("[data-role=result]")).to_have_text(
            "✓ Positive" if finding["positive"] else "Below threshold"
        )
    targets = sorted(e["target_label"] for e in archived["explanations"])
    assert targets == sorted(f["label"] for f in outcome["findings"] if f["positive"])
    for explanation in archived["explanations"]:
        article = record.locator(f"article[data-explanation-id='{explanation['id']}']")
        expect(article.locator("h4 [data-role=target-label]")).to_have_text(
            f"of “{explanation['target_label']}”"
        )
        expect(article.locator("dd[data-key=target_label]")).to_have_text(
            explanation["target_label"]
        )
    assert unlabelled_controls(page) == []
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "auditor-multilabel.png")

    record.locator("[data-action=close]").click()
    record = open_record(page, f"{case_ref}-risk")
    section = record.locator("section[data-role=outcome]")
    expect(section.locator("[data-role=value]")).to_contain_text("points")
    expect(section.locator("[data-role=range]")).to_have_text(
        "Outside the reference range: above 80 points to 160 points."
    )
    explanation = record.locator("article[data-method=tree_shap]")
    expect(explanation.locator("[data-role=target-label]")).to_have_text("of “progression score”")
