"""Digests and pseudonyms used across the record."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Stable bytes for a JSON value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def pseudonymise(reference: str, *, key: bytes) -> str:
    """Keyed HMAC-SHA256 of a case reference; the key never enters the database."""
    return hmac.new(key, reference.strip().encode(), hashlib.sha256).hexdigest()


def idempotency_digest(key: str, *, case_ref_key: bytes) -> str:
    """Keyed HMAC-SHA256 of an ``Idempotency-Key`` (a client may put an identifier in it), under
    a key derived from the case-reference key for this one use, so that the same text as a key
    and as a case reference never gives the same pseudonym."""
    derived = hmac.new(case_ref_key, b"xai-stack idempotency-key", hashlib.sha256).digest()
    return hmac.new(derived, key.encode(), hashlib.sha256).hexdigest()
