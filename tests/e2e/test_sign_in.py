"""Sign-in: the token lives in this tab's sessionStorage and goes out as a Bearer header; a 401
or 403 from the API is explained in plain words.

The API does not enforce tokens yet (issue 5), so the 401/403 answers here are given by the
browser's request router in place of the server; the page's handling is what is tested.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser import TOKEN, sign_in
from tests.e2e.conftest import BrowserLog, Stack


def test_the_token_is_kept_in_the_tab_and_sent_as_bearer(
    stack: Stack, page: Page, browser_log: BrowserLog
) -> None:
    sign_in(page, stack.url)
    assert page.evaluate("sessionStorage.getItem('xai.token')") == TOKEN
    page.reload()
    expect(page.locator("#app")).to_be_visible()  # still signed in in this tab
    models_calls = [a for u, a in browser_log.requests if u.endswith("/v1/models")]
    assert models_calls == [f"Bearer {TOKEN}"] * 2
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('xai.token')") is None


@pytest.mark.parametrize(
    ("status", "words"), [(401, "token was not accepted"), (403, "role does not allow")]
)
def test_a_refusal_is_explained(stack: Stack, page: Page, status: int, words: str) -> None:
    def refuse(route: Route) -> None:
        body = {"type": "about:blank", "title": "Refused", "status": status, "detail": "no"}
        route.fulfill(status=status, content_type="application/problem+json", body=json.dumps(body))

    page.route("**/v1/models", refuse)
    sign_in_form = page.locator("#signin")
    page.goto(stack.url)
    page.fill("#token", "some-token")
    page.press("#token", "Enter")
    expect(sign_in_form).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text(words)
    expect(page.locator("#app")).to_be_hidden()
    stored = page.evaluate("sessionStorage.getItem('xai.token')")
    assert stored == (None if status == 401 else "some-token")
