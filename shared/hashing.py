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
