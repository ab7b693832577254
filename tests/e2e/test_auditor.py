"""The auditor page against the real stack: sign in with an auditor token and a stated purpose
(sent with every call), search the archive, page through it by cursor, open a record with its
hashes, chain entries and rendering, verify the chain, replay an explanation (TreeSHAP is
deterministic: the replay must agree exactly) and download the PDF report. A clinician's token
is refused with the API's real 403."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import text

from shared.db.engine import make_engine
from tests.e2e.browser import loaded, screenshot, sign_in, unlabelled_controls
from tests.e2e.conftest import BrowserLog, Stack
from tests.support.processes import wait_final

MODEL = "breast-cancer-gbt"
CASE = "breast-cancer-gbt/v1/examples/case.json"
XRAY = "chest-xray-demo/clean/examples/positive.png"
PURPOSE = "Quarterly review of breast-cancer calls"
REPLAY_S = 120


def diagnose(stack: Stack, case_ref: str, methods: list[str]) -> dict[str, Any]:
    """A tabular prediction made by the clinician, as the clinical page would make it."""
    features = json.loads(stack.example(CASE).read_text())
    response = stack.as_("clinician").post(
        "/v1/predictions",
        json={"model": MODEL, "methods": methods, "case_ref": case_ref, "features": features},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sign_in_as_auditor(stack: Stack, page: Page) -> None:
    sign_in(page, f"{stack.url}/audit", stack.token("auditor"), purpose=PURPOSE)
    expect(page.locator("#results-status")).to_contain_text("Page 1")


def search_case(page: Page, case_ref: str, *, per_page: str = "25") -> None:
    page.fill("#filter-case_ref", case_ref)
    page.select_option("#filter-limit", per_page)
    page.click("#search-submit")
    expect(page.locator("#results-status")).to_contain_text("Page 1")


def shown_ids(page: Page) -> list[str]:
    return page.locator("#records tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.recordId)"
    )


def test_search_open_verify_replay_and_download_the_report(
    stack: Stack, page: Page, browser_log: BrowserLog
) -> None:
    case_ref = f"audit-e2e-{uuid.uuid4()}"
    xray = stack.as_("clinician").post(
        "/v1/predictions",
        files={"file": ("positive.png", stack.example(XRAY).read_bytes())},
        data={"model": "chest-xray-demo", "methods": "gradcam", "case_ref": f"{case_ref}-xray"},
    )
    assert xray.status_code == 201, xray.text
    wait_final(stack.as_("clinician"), xray.json()["explanations"][0]["id"])
    prediction = diagnose(stack, case_ref, ["tree_shap"])
    (job,) = prediction["explanations"]
    assert wait_final(stack.as_("clinician"), job["id"])["status"] == "succeeded"
    other = next(
        label
        for label in prediction["diagnosis"]["probabilities"]
        if label != prediction["diagnosis"]["label"]
    )
    feedback = stack.as_("clinician").post(
        f"/v1/predictions/{prediction['id']}/feedback",
        json={"decision": "override", "corrected_label": other, "reason": "Second reader"},
    )
    assert feedback.status_code == 201, feedback.text
    archived = stack.as_("auditor").get(f"/v1/audit/records/{prediction['id']}").json()

    sign_in_as_auditor(stack, page)
    expect(page.locator("#session [data-role=purpose]")).to_contain_text(PURPOSE)
    assert shown_ids(page)[:2] == [prediction["id"], xray.json()["id"]]  # newest first
    screenshot(page, "auditor-search.png")
    search_case(page, case_ref)
    assert shown_ids(page) == [prediction["id"]]

    # Open the record: focus moves to its heading; every hash and chain entry is shown.
    open_button = page.locator(f"#records tr[data-record-id='{prediction['id']}'] button")
    open_button.focus()
    page.keyboard.press("Enter")
    record = page.locator("#record")
    expect(record.locator("#record-title")).to_be_focused()
    facts = record.locator("section[aria-labelledby=prediction-title]")
    for key in ("model_sha256", "input_sha256", "tensor_sha256", "case_ref_hmac"):
        expect(facts.locator(f"dd[data-key={key}]")).to_have_text(archived["prediction"][key])
    # The chain entries about this decision, then the logged reads (this page's own included).
    seqs = record.locator("[data-role=chain] tbody tr td:first-child")
    expect(seqs.nth(len(archived["chain"]))).to_be_visible()
    shown = seqs.all_inner_texts()
    assert shown[: len(archived["chain"])] == [str(e["seq"]) for e in archived["chain"]]
    for entry in archived["chain"]:
        expect(record.locator("[data-role=chain]")).to_contain_text(entry["hash"])
    expect(record.locator("[data-role=feedback]")).to_contain_text("Second reader")
    explanation = record.locator(f"article[data-explanation-id='{job['id']}']")
    result = archived["explanations"][0]["result"]
    expect(explanation.locator("dd[data-key=attributions]")).to_contain_text(
        result["attributions"]["sha256"]
    )
    loaded(explanation.locator("[data-role=rendering] img"))

    # Verify the chain: intact, with the number of records checked.
    with page.expect_response(lambda r: r.url.endswith("/v1/audit/verify")) as answer:
        page.click("#verify")
    report = answer.value.json()
    assert report["ok"] is True and report["checked"] > len(archived["chain"])
    verdict = page.locator("#verify-result")
    expect(verdict).to_have_attribute("data-ok", "true")
    expect(verdict).to_contain_text(f"The chain is intact: {report['checked']} records checked")
    expect(verdict.locator("dd[data-key=head_hash]")).to_have_text(report["head_hash"])

    # Replay: the status, then the agreement; TreeSHAP recomputes bit for bit.
    replay = explanation.locator("[data-action=replay]")
    replay.click()
    outcome = explanation.locator("[data-role=agreement]")
    expect(outcome).to_be_visible(timeout=REPLAY_S * 1000)
    expect(explanation.locator("[data-role=replay-status]")).to_have_text("Replay finished.")
    expect(explanation.locator("[data-role=verdict]")).to_contain_text("exactly")
    expect(outcome.locator("dd[data-key=exact]")).to_have_text("yes")
    expect(outcome.locator("dd[data-key=max_abs_diff]")).to_have_text("0")
    expect(outcome.locator("dd[data-key=spearman]")).to_have_text("1.0000")
    expect(outcome.locator("dd[data-key=top_features_same]")).to_have_text("yes")
    expect(replay).to_be_focused()  # the button kept focus while it ran

    # The PDF report: fetched with the headers, saved as a download.
    with page.expect_download() as saved:
        record.locator("[data-action=report-pdf]").click()
    assert saved.value.suggested_filename == f"decision-report-{prediction['id']}.pdf"
    with open(saved.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    expect(record.locator("[data-action=report-pdf] + [role=status]")).to_contain_text("Saved")
    assert unlabelled_controls(page) == []
    page.evaluate("document.activeElement.blur()")
    screenshot(page, "auditor-record.png")

    # Back to the results: focus returns to the button that opened the record.
    record.locator("[data-action=close]").click()
    expect(record).to_be_hidden()
    expect(open_button).to_be_focused()

    # An image record shows the uploaded image and the archived heatmap.
    search_case(page, f"{case_ref}-xray")
    page.click("#records button[data-action=open]")
    loaded(record.locator("[data-role=input] img"))
    loaded(record.locator("article[data-method=gradcam] [data-role=rendering] img"))

    # Every API call carried the auditor's token and the purpose stated at sign-in.
    calls = [(u, p) for u, p in browser_log.purposes if "/v1/" in u]
    assert calls and all(p == PURPOSE for _, p in calls), calls
    token = f"Bearer {stack.token('auditor')}"
    assert all(a == token for u, a in browser_log.requests if "/v1/" in u)

    page.click("#sign-out")  # forgets the token and the purpose
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate(
        "[sessionStorage.getItem('xai.token'), sessionStorage.getItem('xai.purpose')]"
    ) == [None, None]


def test_pages_follow_the_cursor_and_stay_stable(stack: Stack, page: Page) -> None:
    case_ref = f"audit-paging-{uuid.uuid4()}"
    ids = [diagnose(stack, case_ref, ["tree_shap"])["id"] for _ in range(11)]  # oldest first
    sign_in_as_auditor(stack, page)
    search_case(page, case_ref, per_page="10")
    assert shown_ids(page) == ids[:0:-1]  # the 10 newest, newest first
    expect(page.locator("#page-previous")).to_be_disabled()

    # A decision recorded meanwhile sorts before page 1: page 2 neither repeats nor skips.
    newest = diagnose(stack, case_ref, ["tree_shap"])["id"]
    page.focus("#page-next")
    page.keyboard.press("Enter")
    expect(page.locator("#results-status")).to_contain_text("Page 2: 1 record.")
    assert shown_ids(page) == [ids[0]]
    expect(page.locator("#page-next")).to_be_disabled()
    expect(page.locator("#results-title")).to_be_focused()  # not lost on a disabled button

    page.click("#page-previous")
    expect(page.locator("#results-status")).to_contain_text("Page 1")
    assert shown_ids(page) == [newest, *ids[:1:-1]]


def test_a_clinician_token_is_refused_on_the_auditor_page(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.url}/audit")
    assert unlabelled_controls(page) == []
    page.fill("#token", stack.token("clinician"))
    page.press("#token", "Enter")  # no purpose stated yet: the page asks for it first
    expect(page.locator("#purpose")).to_be_focused()
    expect(page.locator("#purpose")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#signin-error")).to_contain_text("State the purpose")

    page.fill("#purpose", PURPOSE)
    with page.expect_response(lambda r: "/v1/audit/records" in r.url) as answer:
        page.press("#purpose", "Enter")
    assert answer.value.status == 403
    error = page.locator("#signin-error")
    expect(error).to_contain_text("This page is for auditors")
    expect(error).to_contain_text("(403)")
    expect(page.locator("#app")).to_be_hidden()


def test_a_tampered_decision_breaks_the_chain_where_it_is_sealed(stack: Stack, page: Page) -> None:
    prediction = diagnose(stack, f"audit-tamper-{uuid.uuid4()}", ["tree_shap"])
    archived = stack.as_("auditor").get(f"/v1/audit/records/{prediction['id']}").json()
    sealed = next(e["seq"] for e in archived["chain"] if e["kind"] == "prediction")
    sign_in_as_auditor(stack, page)
    engine = make_engine(stack.database)
    edit = text("UPDATE predictions SET label = :label WHERE id = :id")
    try:
        with engine.begin() as connection:  # someone edits the diagnosis behind the API
            connection.execute(edit, {"label": "edited", "id": uuid.UUID(prediction["id"])})
        with page.expect_response(lambda r: r.url.endswith("/v1/audit/verify")) as answer:
            page.click("#verify")
        report = answer.value.json()
        assert report["ok"] is False and report["first_bad_seq"] == sealed
        verdict = page.locator("#verify-result")
        expect(verdict).to_have_attribute("data-ok", "false")
        expect(verdict).to_contain_text(f"broken at record #{sealed}: {report['reason']}")
    finally:
        with engine.begin() as connection:
            connection.execute(
                edit, {"label": prediction["diagnosis"]["label"], "id": uuid.UUID(prediction["id"])}
            )
        engine.dispose()
    page.click("#verify")
    expect(page.locator("#verify-result")).to_have_attribute("data-ok", "true")
