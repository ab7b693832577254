"""Sign-in: the token lives in this tab's sessionStorage and goes out as a Bearer header; the
API's real 401 (unknown token) and 403 (a role the page is not for) are explained in plain words.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import sign_in
from tests.e2e.conftest import BrowserLog, Stack


def test_the_token_is_kept_in_the_tab_and_sent_as_bearer(
    stack: Stack, page: Page, browser_log: BrowserLog
) -> None:
    token = stack.token("clinician")
    sign_in(page, stack.url, token)
    expect(page.locator("#session")).to_have_text("Signed inSign out")
    assert page.evaluate("sessionStorage.getItem('xai.token')") == token
    with page.expect_request(lambda request: request.url.endswith("/v1/models")):
        page.reload()
    expect(page.locator("#app")).to_be_visible()  # still signed in in this tab
    models_calls = [a for u, a in browser_log.requests if u.endswith("/v1/models")]
    assert models_calls == [f"Bearer {token}"] * 2
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('xai.token')") is None


@pytest.mark.parametrize(
    ("path", "role", "status", "words"),
    [
        ("/", None, 401, "token was not accepted"),
        ("/ops", "clinician", 403, "role does not allow"),
    ],
)
def test_a_refusal_is_explained(
    stack: Stack, page: Page, path: str, role: str | None, status: int, words: str
) -> None:
    token = stack.token(role) if role else "xai_not-a-token-anyone-issued"
    page.goto(f"{stack.url}{path}")
    with page.expect_response(lambda r: "/v1/" in r.url) as answer:
        page.fill("#token", token)
        page.press("#token", "Enter")
    assert answer.value.status == status
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text(words)
    expect(page.locator("#app")).to_be_hidden()
    stored = page.evaluate("sessionStorage.getItem('xai.token')")
    assert stored == (None if status == 401 else token)
