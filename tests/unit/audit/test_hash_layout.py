"""The record hash is SHA-256 over exactly the documented bytes, and covers every field."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.audit.chain import GENESIS_HASH, iso, record_hash

FIELDS = {
    "seq": 7,
    "kind": "prediction",
    "subject_id": "6f1c2a4e-0000-4000-8000-000000000001",
    "created_at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    "payload_sha256": "ab" * 32,
    "prev_hash": GENESIS_HASH,
}


def test_hash_is_sha256_of_the_documented_canonical_array() -> None:
    literal = (
        '["xai-audit/1",7,"prediction","6f1c2a4e-0000-4000-8000-000000000001",'
        '"2026-01-02T03:04:05.000006+00:00","' + "ab" * 32 + '","' + "0" * 64 + '"]'
    )
    assert record_hash(**FIELDS) == hashlib.sha256(literal.encode()).hexdigest()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", 8),
        ("kind", "explanation"),
        ("subject_id", "6f1c2a4e-0000-4000-8000-000000000002"),
        ("created_at", FIELDS["created_at"] + timedelta(microseconds=1)),
        ("payload_sha256", "ab" * 31 + "ac"),
        ("prev_hash", "0" * 63 + "1"),
    ],
)
def test_every_field_is_covered(field: str, value: object) -> None:
    assert record_hash(**{**FIELDS, field: value}) != record_hash(**FIELDS)


def test_times_are_utc_with_microseconds_whatever_the_zone() -> None:
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert iso(paris) == "2026-01-02T03:04:05.000000+00:00"
    assert len(iso(paris)) == 32
    with pytest.raises(ValueError, match="UTC-aware"):
        iso(datetime(2026, 1, 2))
