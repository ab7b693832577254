"""The clinical page on outputs beyond one class: a multi-label model's findings against their
thresholds, with a finding switcher over the per-finding heatmaps (by keyboard too), and a
regression's value with its unit and reference range in words; feedback says honestly what it
can record for each."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browser import loaded, pixels, screenshot, sign_in, unlabelled_controls
from tests.e2e.conftest import BrowserLog, Stack
from tests.e2e.test_clinical_image import rendering

FINDINGS_MODEL = "tiny-findings / v1"
FINDINGS_CASE = "tiny-findings/v1/examples/case.png"
CLASSES_MODEL = "tiny-classes / v1"
CLASSES_CASE = "tiny-classes/v1/examples/case.png"
RISK_MODEL = "tiny-risk / v1"


@pytest.fixture(scope="module")
def stack(outputs_stack: Stack) -> Stack:
    """These tests need no demo bundle: the lighter stack of the output bundles."""
    return outputs_stack


def number(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text))


def shown_outcome(page: Page, stack: Stack, mode: str) -> dict[str, Any]:
    """Wait for the page's diagnosis of ``mode``; the prediction as the API recorded it."""
    expect(page.locator(f"#diagnosis[data-mode={mode}]")).to_be_visible()
    prediction_id = page.get_attribute("#diagnosis", "data-prediction-id")
    prediction: dict[str, Any] = (
        stack.as_("clinician").get(f"/v1/predictions/{prediction_id}").json()
    )
    assert prediction["diagnosis"]["mode"] == mode
    return prediction


def visible_panel(page: Page, method: str) -> Locator:
    return page.locator(f"[role=tabpanel][data-method={method}]:not([hidden])")


def test_findings_with_thresholds_and_a_finding_switcher(
    stack: Stack, page: Page, browser_log: BrowserLog
) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=FINDINGS_MODEL)
    page.set_input_files("#file", stack.example(FINDINGS_CASE))
    page.click("#submit")
    prediction = shown_outcome(page, stack, "multi-label")
    findings = prediction["diagnosis"]["findings"]
    positive = [f for f in sorted(findings, key=lambda f: -f["probability"]) if f["positive"]]
    assert len(positive) == 2 and len(findings) == 4  # the bundle's head is built so

    # Every finding, most probable first, with its probability, its threshold and, in words,
    # whether it reaches it.
    rows = page.locator("#diagnosis table.findings tbody tr")
    expect(rows).to_have_count(len(findings))
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.label)")
    assert shown == [f["label"] for f in sorted(findings, key=lambda f: -f["probability"])]
    for finding in findings:
        row = page.locator(f"#diagnosis tr[data-label='{finding['label']}']")
        probability = number(row.locator("[data-role=probability]").inner_text())
        assert abs(probability - 100 * finding["probability"]) <= 0.051, finding
        threshold = number(row.locator("[data-role=threshold]").inner_text())
        assert threshold == round(100 * finding["threshold"], 1), finding
        expect(row).to_have_attribute("data-positive", str(finding["positive"]).lower())
        expect(row.locator("[data-role=result]")).to_have_text(
            "✓ Positive" if finding["positive"] else "Below threshold"
        )
    expect(page.locator("#diagnosis [data-role=positive-findings]")).to_contain_text(
        ", ".join(f["label"] for f in positive)
    )

    # One job per method and positive finding; the switcher offers the positive findings.
    jobs = {(j["method"], j["target_label"]): j["id"] for j in prediction["explanations"]}
    assert set(jobs) == {
        (m, f["label"]) for m in ("gradcam", "integrated_gradients") for f in positive
    }
    switch = page.locator("#target-select")
    options = switch.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert options == [f["label"] for f in positive]
    first, second = options
    live = page.locator("#target-shown")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_contain_text(first)

    # The shown heatmap is the chosen finding's job, pixel for pixel.
    gradcam = loaded(visible_panel(page, "gradcam").locator("img[data-role=heatmap]"))
    expect(visible_panel(page, "gradcam")).to_have_attribute("data-job-id", jobs["gradcam", first])
    drawn = {"overlay": "original", "alpha": 1, "cmap": "auto", "polarity": "positive", "clip": 99}
    first_map = rendering(stack, jobs["gradcam", first], **drawn)
    second_map = rendering(stack, jobs["gradcam", second], **drawn)
    assert not np.array_equal(first_map, second_map)  # the switch must show a different map
    assert np.array_equal(pixels(gradcam), first_map)

    # Keyboard: the select takes arrow keys; the live line names the finding now shown.
    switch.focus()
    page.keyboard.press("ArrowDown")
    expect(switch).to_have_value(second)
    expect(live).to_contain_text(second)
    panel = visible_panel(page, "gradcam")
    expect(panel).to_have_count(1)
    expect(panel).to_have_attribute("data-job-id", jobs["gradcam", second])
    expect(page.locator("[role=tab][data-method=gradcam]")).to_have_attribute(
        "aria-controls", panel.get_attribute("id") or ""
    )
    assert np.array_equal(pixels(loaded(panel.locator("img[data-role=heatmap]"))), second_map)
    expect(panel).to_contain_text(f"Explains the finding “{second}”")

    # The method tabs keep the chosen finding.
    page.focus("[role=tab][data-method=gradcam]")
    page.keyboard.press("ArrowRight")
    expect(visible_panel(page, "integrated_gradients")).to_have_attribute(
        "data-job-id", jobs["integrated_gradients", second]
    )
    loaded(visible_panel(page, "integrated_gradients").locator("img[data-role=heatmap]"))

    # Each of the four jobs reached the page by its own event: fetched once, when ready.
    for job_id in jobs.values():
        expect(page.locator(f"[role=tabpanel][data-job-id='{job_id}']")).to_have_attribute(
            "data-status", "succeeded", timeout=60_000
        )
    for job_id in jobs.values():
        fetched = [u for u, _ in browser_log.requests if u.endswith(f"/v1/explanations/{job_id}")]
        assert len(fetched) == 1, fetched
    assert unlabelled_controls(page) == []

    # Feedback: an override names another finding as the main one (the API's own rule).
    feedback = page.locator("#feedback")
    expect(feedback.locator("[data-role=feedback-help]")).to_contain_text(
        "a corrected set of findings cannot be recorded"
    )
    page.click("[data-action=override]")
    corrected = feedback.locator("select")
    main = prediction["diagnosis"]["label"]
    assert corrected.locator("option").evaluate_all("o => o.map(x => x.value)") == [
        f["label"] for f in findings if f["label"] != main
    ]
    expect(feedback.locator(f"label[for='{corrected.get_attribute('id')}']")).to_have_text(
        "Corrected main finding"
    )
    corrected.select_option(second)
    feedback.locator("textarea").fill("The nodule is the main finding here.")
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as recorded:
        feedback.locator("button[type=submit]").click()
    assert recorded.value.status == 201, recorded.value.text()
    expect(page.locator("[data-role=feedback-status]")).to_contain_text(
        f"you overrode it with “{second}”"
    )

    # On a phone the findings table still fits its card.
    page.set_viewport_size({"width": 390, "height": 844})
    table = page.locator("#diagnosis table.findings")
    assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth"), "table overflows"
    page.set_viewport_size({"width": 1200, "height": 900})

    switch.select_option(first)
    page.click("[role=tab][data-method=gradcam]")
    loaded(visible_panel(page, "gradcam").locator("img[data-role=heatmap]"))
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "clinician-multilabel.png")


def test_a_named_finding_is_explained_on_request(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=FINDINGS_MODEL)
    expect(page.locator("#targets")).to_be_visible()
    page.uncheck("input[name=methods][value=integrated_gradients]")
    page.check("input[name=targets][value=edema]")  # below its threshold: asked for by name
    page.set_input_files("#file", stack.example(FINDINGS_CASE))
    page.click("#submit")
    prediction = shown_outcome(page, stack, "multi-label")
    assert [(j["method"], j["target_label"]) for j in prediction["explanations"]] == [
        ("gradcam", "edema")
    ]
    expect(page.locator("#target-switch")).to_be_hidden()  # one target: nothing to switch
    panel = visible_panel(page, "gradcam")
    loaded(panel.locator("img[data-role=heatmap]"))
    expect(panel).to_contain_text("Explains the finding “edema”")
    expect(panel).to_contain_text("below threshold")


def test_a_multiclass_distribution_and_two_named_classes(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=CLASSES_MODEL)
    expect(page.locator("#targets legend")).to_have_text("Classes to explain (optional)")
    page.uncheck("input[name=methods][value=integrated_gradients]")
    page.check("input[name=targets][value=normal]")
    page.check("input[name=targets][value=benign]")
    page.set_input_files("#file", stack.example(CLASSES_CASE))
    page.click("#submit")
    prediction = shown_outcome(page, stack, "single-label")
    ranked = sorted(prediction["diagnosis"]["probabilities"].items(), key=lambda kv: -kv[1])
    assert ranked[0][0] == prediction["diagnosis"]["label"]
    expect(page.locator("#diagnosis [data-role=label]")).to_have_text(ranked[0][0])
    rows = page.locator("#diagnosis table.probabilities tbody tr")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.label)") == [k for k, _ in ranked]

    # The named classes, most probable first; the switcher shows each one's job.
    jobs = {j["target_label"]: j["id"] for j in prediction["explanations"]}
    assert set(jobs) == {"normal", "benign"}
    expect(page.locator("label[for=target-select]")).to_have_text("Class explained")
    options = page.locator("#target-select option")
    order = options.evaluate_all("options => options.map(o => o.value)")
    assert order == [k for k, _ in ranked if k in jobs]
    drawn = {"overlay": "original", "alpha": 1, "cmap": "auto", "polarity": "positive", "clip": 99}
    for label in reversed(order):
        page.select_option("#target-select", label)
        panel = visible_panel(page, "gradcam")
        expect(panel).to_have_attribute("data-job-id", jobs[label])
        heatmap = loaded(panel.locator("img[data-role=heatmap]"))
        assert np.array_equal(pixels(heatmap), rendering(stack, jobs[label], **drawn))
        expect(page.locator("#target-shown")).to_contain_text(f"“{label}”")


def test_a_risk_score_with_its_unit_and_reference_range(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=RISK_MODEL)
    expect(page.locator("#targets")).to_be_hidden()  # a value has no classes to choose
    for example, words in (
        ("usual", "Inside the reference range (80 points to 160 points)."),
        ("high", "Outside the reference range: above 80 points to 160 points."),
    ):
        page.set_input_files("#case-file", stack.example(f"tiny-risk/v1/examples/{example}.json"))
        page.click("#submit")
        expect(page.locator("#diagnosis [data-role=range]")).to_have_text(words)
    prediction = shown_outcome(page, stack, "regression")
    outcome = prediction["diagnosis"]
    assert outcome["in_range"] is False and outcome["value"] > outcome["reference_range"][1]
    expect(page.locator("#diagnosis [data-role=label]")).to_have_text(outcome["label"])
    expect(page.locator("#diagnosis [data-role=value]")).to_have_text(
        f"{outcome['value']:.4g} {outcome['unit']}"
    )
    expect(page.locator("#diagnosis table")).to_have_count(0)  # no probabilities for a value
    expect(page.locator("#target-switch")).to_be_hidden()

    panel = visible_panel(page, "tree_shap")
    loaded(panel.locator("img[data-role=waterfall]"), timeout=60_000)
    expect(panel.locator("caption")).to_contain_text("progression score (points)")

    # Feedback: a corrected value cannot be recorded, and the page says so instead of offering it.
    feedback = page.locator("#feedback")
    expect(feedback.locator("[data-action=override]")).to_have_count(0)
    expect(feedback.locator("[data-role=feedback-help]")).to_contain_text(
        "A corrected value cannot be recorded here"
    )
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as recorded:
        page.click("[data-action=accept]")
    assert recorded.value.status == 201
    expect(page.locator("[data-role=feedback-status]")).to_contain_text("you accepted this value")
    assert unlabelled_controls(page) == []
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "clinician-regression.png")
