"""The clinical page on an image: the diagnosis at once, the heatmap arriving by itself over
the image the model saw, the method switcher, the rendering options and the opacity slider."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from tests.e2e.browser import (
    loaded,
    pixels,
    png_pixels,
    screenshot,
    shown_diagnosis,
    sign_in,
    unlabelled_controls,
)
from tests.e2e.conftest import BrowserLog, Stack
from tests.support import inputs
from tests.support.processes import wait_final

MODEL = "chest-xray-demo / clean (default)"
EXAMPLE = "chest-xray-demo/clean/examples/positive.png"


def heatmap_in(page: Page, method: str):  # type: ignore[no-untyped-def]
    return page.locator(f"[role=tabpanel][data-method={method}] img[data-role=heatmap]")


def rendering(stack: Stack, job_id: str, **options: object) -> np.ndarray:
    response = stack.as_("clinician").get(f"/v1/explanations/{job_id}/heatmap.png", params=options)
    assert response.status_code == 200, response.text
    return png_pixels(response.content)


def test_upload_diagnose_watch_heatmap_arrive_and_switch_method(
    stack: Stack, page: Page, browser_log: BrowserLog
) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=MODEL)
    page.set_input_files("#file", stack.example(EXAMPLE))
    expect(page.locator("#preview-image")).to_be_visible()
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.click("#submit")

    # The diagnosis at once, as the API recorded it.
    prediction = shown_diagnosis(page, stack.as_("clinician"))
    for name, p in prediction["diagnosis"]["probabilities"].items():
        shown = page.locator(f"#diagnosis tr[data-label='{name}'] td.num").inner_text()
        assert abs(float(re.sub(r"[^0-9.]", "", shown)) - 100 * p) <= 0.051, (name, shown, p)

    # Each explanation appears by itself; the first tab (Grad-CAM) shows its heatmap.
    jobs = {job["method"]: job["id"] for job in prediction["explanations"]}
    assert set(jobs) == {"gradcam", "integrated_gradients"}
    gradcam = loaded(heatmap_in(page, "gradcam"))
    assert page.evaluate("window.sameDocument") is True
    assert page.locator("[role=tab][data-method=gradcam]").get_attribute("data-status") == (
        "succeeded"
    )
    full = rendering(
        stack,
        jobs["gradcam"],
        overlay="original",
        alpha=1,
        cmap="auto",
        polarity="positive",
        clip=99,
    )
    assert np.array_equal(pixels(gradcam), full)

    # The slider's CSS opacity shows the API's own overlay at that alpha (to rounding).
    view = loaded(page.locator("[role=tabpanel][data-method=gradcam] img[data-role=model-view]"))
    assert np.array_equal(pixels(view), rendering(stack, jobs["gradcam"], alpha=0))
    half = rendering(stack, jobs["gradcam"], alpha=0.5)
    assert np.abs(pixels(view, gradcam, opacity=0.5) - half).max() <= 2
    page.locator("[role=tabpanel][data-method=gradcam] input[type=range]").first.fill("80")
    assert gradcam.evaluate("img => img.style.opacity") == "0.8"

    # Switch method from the keyboard; Integrated Gradients arrives with its quality badges.
    page.focus("[role=tab][data-method=gradcam]")
    page.keyboard.press("ArrowRight")
    expect(page.locator("[role=tab][data-method=integrated_gradients]")).to_have_attribute(
        "aria-selected", "true"
    )
    expect(page.locator("[role=tabpanel][data-method=gradcam]")).to_be_hidden()
    ig = loaded(heatmap_in(page, "integrated_gradients"))
    assert not np.array_equal(pixels(ig), pixels(gradcam))
    archived = wait_final(stack.as_("clinician"), jobs["integrated_gradients"])
    badge = page.locator(
        "[data-method=integrated_gradients] [data-quality=completeness_delta_relative]"
    )
    expect(badge).to_contain_text("Completeness")
    relative = archived["result"]["quality"]["completeness_delta_relative"]
    expect(badge).to_contain_text(f"{100 * relative:.1f} %")
    badge.focus()
    expect(page.locator(f"#{badge.get_attribute('aria-describedby')}")).to_be_visible()

    # Rendering options re-render on the server.
    page.locator("[role=tabpanel][data-method=integrated_gradients] select").first.select_option(
        "viridis"
    )
    expect(ig).to_have_attribute("data-query", re.compile(r"cmap=viridis"))
    loaded(ig)
    assert unlabelled_controls(page) == []

    # Feedback: a refused override shows the API's reason next to its field; an accepted
    # diagnosis is confirmed with its place in the audit chain.
    feedback = page.locator("#feedback")
    page.click("[data-action=override]")
    corrected = feedback.locator("select")
    corrected.evaluate(  # the form offers only other labels; the API must refuse this one too
        "(select, label) => select.add(new Option(label, label))", prediction["diagnosis"]["label"]
    )
    corrected.select_option(prediction["diagnosis"]["label"])
    feedback.locator("textarea").fill("Looks like the other class to me.")
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as refused:
        feedback.locator("button[type=submit]").click()
    assert refused.value.status == 422
    expect(corrected).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{corrected.get_attribute('id')}-error")
    expect(error).to_have_text(
        next(e["reason"] for e in refused.value.json()["errors"] if e["field"] == "corrected_label")
    )
    expect(page.locator("[data-role=feedback-status]")).to_be_hidden()
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as recorded:
        page.click("[data-action=accept]")
    assert recorded.value.status == 201
    entry = recorded.value.json()
    status = page.locator("[data-role=feedback-status]")
    expect(status).to_contain_text("Recorded: you accepted this diagnosis")
    expect(status).to_contain_text(f"audit record #{entry['audit_seq']}")
    expect(corrected).not_to_have_attribute("aria-invalid", "true")

    # Every API call carried the token; the event stream (no headers possible) has it in the query.
    token = stack.token("clinician")
    api_calls = [(u, a) for u, a in browser_log.requests if "/v1/" in u]
    assert api_calls and all(a == f"Bearer {token}" for u, a in api_calls if "/events" not in u), (
        api_calls
    )
    assert any(f"/events?token={token}" in u for u, _ in api_calls)
    for job_id in jobs.values():  # fetched once, when its event said so: the stream drove it
        fetched = [u for u, _ in api_calls if u.endswith(f"/v1/explanations/{job_id}")]
        assert len(fetched) == 1, fetched

    page.click("[role=tab][data-method=gradcam]")
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "clinical-image.png")


def test_a_dicom_is_shown_as_the_model_saw_it(stack: Stack, page: Page, tmp_path: Path) -> None:
    dicom = tmp_path / "ct.dcm"
    dicom.write_bytes(inputs.ct_small())
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=MODEL)
    page.uncheck("input[name=methods][value=integrated_gradients]")
    page.set_input_files("#file", dicom)
    expect(page.locator("#preview")).to_be_hidden()  # a browser cannot draw DICOM itself
    page.click("#submit")
    expect(page.locator("#diagnosis [data-role=label]")).to_be_visible()
    panel = page.locator("[role=tabpanel][data-method=gradcam]")
    view = loaded(panel.locator("img[data-role=model-view]"))
    loaded(panel.locator("img[data-role=heatmap]"))
    job_id = panel.get_attribute("data-job-id")
    assert np.array_equal(pixels(view), rendering(stack, job_id, alpha=0))
    expect(page.locator("[role=tab]")).to_have_count(1)
