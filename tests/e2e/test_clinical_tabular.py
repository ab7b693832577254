"""The clinical page on a tabular model: a form generated from the manifest, the API's
validation messages next to their fields, then the waterfall and the top-features table."""

from __future__ import annotations

import json

from playwright.sync_api import Page, expect

from tests.e2e.browser import loaded, screenshot, shown_diagnosis, sign_in, unlabelled_controls
from tests.e2e.conftest import Stack
from tests.support.processes import wait_final

MODEL = "breast-cancer-gbt / v1 (default)"
CASE = "breast-cancer-gbt/v1/examples/case.json"


def feature(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"input[data-feature='{name}']")


def open_form(stack: Stack, page: Page) -> dict[str, float]:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=MODEL)
    page.set_input_files("#case-file", stack.example(CASE))
    case: dict[str, float] = json.loads(stack.example(CASE).read_text())
    expect(feature(page, "mean radius")).to_have_value(str(case["mean radius"]))
    return case


def test_the_form_follows_the_manifest(stack: Stack, page: Page) -> None:
    sign_in(page, stack.url, stack.token("clinician"))
    page.select_option("#model", label=MODEL)
    models = stack.as_("clinician").get("/v1/models").json()
    spec = next(m for m in models if m["name"] == "breast-cancer-gbt")["manifest"]["input"]
    names = page.locator("input[data-feature]").evaluate_all(
        "inputs => inputs.map(i => i.dataset.feature)"
    )
    assert names == [f["name"] for f in spec["features"]]
    first = spec["features"][0]
    hint = page.locator(f"#{feature(page, first['name']).get_attribute('id')}-hint")
    expect(hint).to_contain_text(f"valid {first['minimum']:g} to {first['maximum']:g}")
    assert unlabelled_controls(page) == []


def test_a_bad_value_is_shown_next_to_its_field(stack: Stack, page: Page) -> None:
    case = open_form(stack, page)
    feature(page, "mean radius").fill("9999")
    feature(page, "mean texture").fill("abc")
    page.click("#submit")

    refused = stack.as_("clinician").post(
        "/v1/predictions",
        json={
            "model": "breast-cancer-gbt",
            "features": {**case, "mean radius": 9999, "mean texture": "abc"},
        },
    )
    assert refused.status_code == 422
    reasons = {e["field"]: e["reason"] for e in refused.json()["errors"]}
    for name in ("mean radius", "mean texture"):
        field = feature(page, name)
        error = page.locator(f"#{field.get_attribute('id')}-error")
        expect(error).to_have_text(reasons[f"features.{name}"])
        expect(field).to_have_attribute("aria-invalid", "true")
    expect(feature(page, "mean radius")).to_be_focused()
    expect(page.locator("#form-error")).to_contain_text("2 fields")
    expect(page.locator("#result")).to_be_hidden()
    expect(feature(page, "mean perimeter")).not_to_have_attribute("aria-invalid", "true")


def test_a_valid_case_shows_the_waterfall_and_top_features(stack: Stack, page: Page) -> None:
    open_form(stack, page)
    page.click("#submit")
    prediction = shown_diagnosis(page, stack.as_("clinician"))
    job = next(j for j in prediction["explanations"] if j["method"] == "tree_shap")

    page.click("[role=tab][data-method=tree_shap]")
    panel = page.locator("[role=tabpanel][data-method=tree_shap]")
    loaded(panel.locator("img[data-role=waterfall]"))
    archived = wait_final(stack.as_("clinician"), job["id"])
    top = archived["result"]["summary"]["top_features"]
    rows = panel.locator("table.top-features tbody tr")
    expect(rows).to_have_count(len(top))
    expect(rows.first.locator("th")).to_have_text(top[0]["name"])
    badge = panel.locator("[data-quality=additivity_error]")
    expect(badge).to_contain_text("good")
    expect(panel.locator("[data-quality=served_parity_max_abs_diff]")).to_contain_text("Parity")
    screenshot(page, "clinical-tabular.png")
