"""The ops view against the real stack: the served models with their sha256, the queue, job
states, worker activity, and a real failure (the worker's copy of tiny-cnn has other bytes)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in
from tests.e2e.conftest import Stack
from tests.support import inputs
from tests.support.processes import wait_final


def test_ops_view_shows_models_queue_jobs_and_failures(stack: Stack, page: Page) -> None:
    clinician, ops = stack.as_("clinician"), stack.as_("ops")
    refused = clinician.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": "saliency"},
    ).json()
    failed = wait_final(clinician, refused["explanations"][0]["id"])
    assert failed["status"] == "failed" and "pinned" in failed["last_error"]

    sign_in(page, f"{stack.url}/ops", stack.token("ops"))
    for model in ops.get("/v1/models").json():
        row = page.locator(f"#models tr[data-model='{model['name']}/{model['version']}']")
        expect(row.locator("code")).to_have_text(model["sha256"])
    failure = page.locator(f"#failures tr[data-job-id='{failed['id']}']")
    expect(failure).to_contain_text("pinned")
    expect(failure).to_contain_text("tiny-cnn/v1")
    expect(page.locator("#queue [data-key=depth]")).to_have_text(re.compile(r"^\d+$"))
    status = ops.get("/v1/ops/status").json()
    assert status["jobs"]["failed"] >= 1 and status["worker"]["last_finished_at"] is not None
    expect(page.locator("#jobs [data-key=failed]")).not_to_have_text("0")
    expect(page.locator("#worker [data-key=last_worker]")).to_have_text(
        status["worker"]["last_worker"]
    )
    screenshot(page, "ops.png")
