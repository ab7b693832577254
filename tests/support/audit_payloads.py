"""Small audit payloads for tests of the record formats."""

from __future__ import annotations

from shared.audit.formats.v2 import Release, ReplayV2

ELSEWHERE = Release(version="0.2.0", commit="c" * 40)
"""A release other than the running one (a rebuild names the release that wrote the record)."""


def replay_payload(outcome: object, *, release: Release | None = None) -> ReplayV2:
    """A ``replay`` payload: its ``outcome`` holds any JSON value."""
    return ReplayV2.new(
        release=release,
        replay_id="r",
        explanation_id="e",
        prediction_id="p",
        method="saliency",
        model_sha256="0" * 64,
        status="succeeded",
        outcome=outcome,
        error=None,
        requested_by="auditor",
        purpose="test",
        attempt=1,
        requested_at="2026-01-05T09:30:00.000000+00:00",
        finished_at="2026-01-05T09:30:01.000000+00:00",
    )
