"""The ops view against the real stack: the served models with their sha256, the queue, job
states, worker activity, and a real failure (the worker's copy of tiny-cnn has other bytes)."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Page, expect

from tests.e2e.browser import screenshot, sign_in
from tests.e2e.conftest import Stack
from tests.support import inputs
from tests.support.processes import wait_final, wait_for


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


def test_ops_view_shows_admission_unavailable_methods_and_bundles_not_served(
    stack: Stack, page: Page
) -> None:
    """The demo bundles are admitted (each lists the methods admission found unavailable, with
    the reason); tiny-cnn is served without an admission report; a bundle folder dropped in
    with a manifest that does not validate is listed as not served, with its reason."""
    ops = stack.as_("ops")
    broken = stack.bundles / "broken-model" / "v1"
    broken.mkdir(parents=True)
    (broken / "model.onnx").write_bytes(b"not onnx")
    (broken / "manifest.json").write_text('{"name": "broken-model"}')
    try:
        rejected = wait_for(
            lambda: [r for r in ops.get("/v1/models/rejected").json() if r["version"] == "v1"
                     and r["name"] == "broken-model"],
            timeout=60,
            what="the API to reload and reject the broken bundle",
        )  # fmt: skip
        models = {f"{m['name']}/{m['version']}": m for m in ops.get("/v1/models").json()}
        sign_in(page, f"{stack.url}/ops", stack.token("ops"))
        row = page.locator("#rejected tr[data-model='broken-model/v1']")
        expect(row).to_contain_text(rejected[0]["reason"])
        xray = models["chest-xray-demo/clean"]
        assert xray["admitted"] and xray["unavailable_methods"]
        shown = page.locator("#models tr[data-model='chest-xray-demo/clean']")
        expect(shown.locator("[data-key=admission]")).to_have_text("admitted")
        for method, reason in xray["unavailable_methods"].items():
            expect(shown.locator(f"[data-method={method}]")).to_have_text(
                f"{method} unavailable: {reason}"
            )
        expect(shown.locator("[data-key=methods] span")).to_have_text(", ".join(xray["methods"]))
        tiny = page.locator("#models tr[data-model='tiny-cnn/v1'] [data-key=admission]")
        expect(tiny).to_have_text(re.compile(r"^not admitted"))
    finally:
        shutil.rmtree(broken.parent)
    wait_for(
        lambda: not any(r["name"] == "broken-model" for r in ops.get("/v1/models/rejected").json()),
        timeout=60,
        what="the API to forget the removed bundle",
    )
