"""Credentials and case references in query strings never reach uvicorn's access log."""

from __future__ import annotations

import logging

import pytest

from services.api.core.access_log import RedactQuery, redact


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/predictions/1/events?token=xai_secret", "/v1/predictions/1/events?token=[redacted]"),
        (
            "/v1/audit/records?model=m&case_ref=MRN-0042&limit=5",
            "/v1/audit/records?model=m&case_ref=[redacted]&limit=5",
        ),
        ("/v1/audit/records?case_ref=a%20b", "/v1/audit/records?case_ref=[redacted]"),
        ("/v1/audit/records?my_token=x&tokens=y", "/v1/audit/records?my_token=x&tokens=y"),
        ("/v1/models", "/v1/models"),
    ],
)
def test_redact(path: str, expected: str) -> None:
    assert redact(path) == expected


def test_the_filter_rewrites_uvicorns_access_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.uvicorn.access")
    logger.addFilter(RedactQuery())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/v1/predictions/1/events?token=xai_secret",
            "1.1",
            200,
        )
    assert "xai_secret" not in caplog.text
    assert "token=[redacted]" in caplog.text
