"""The API serves the pages and their assets itself, under a strict Content-Security-Policy,
and nothing outside ``web/static``."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack


@pytest.mark.parametrize("path", ["/", "/ops", "/audit"])
def test_pages_are_html_under_a_same_origin_policy(stack: Stack, path: str) -> None:
    response = stack.api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "http" not in response.text.replace(stack.url, "")  # no CDN, no absolute URLs


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/js/clinical.js", "text/javascript"),
        ("/static/js/auditor.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
    ],
)
def test_assets_have_their_media_types(stack: Stack, path: str, media_type: str) -> None:
    response = stack.api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/clinical.html",
        "/static/..%2f..%2fops.py",
        "/static/js/none.js",
        "/static/js",
    ],
)
def test_nothing_outside_static_is_served(stack: Stack, path: str) -> None:
    response = stack.api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
