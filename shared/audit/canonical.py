"""Canonical JSON of version-1 audit payloads (``python-json/1``, what 0.1.0 wrote; later
versions use RFC 8785, :mod:`shared.audit.formats.base`): one value, one byte string.

The bytes are :func:`shared.hashing.canonical_json` of the checked value:

- UTF-8; object keys sorted by code point; separators ``,`` and ``:`` with no spaces;
  non-ASCII characters written as UTF-8 (not ``\\uXXXX``), control characters as ``\\uXXXX``;
- ``true`` / ``false`` / ``null``; integers as decimal digits (any size);
- floats as Python's ``repr``: the *shortest* decimal string that reads back as the same IEEE-754
  double (``0.1``, ``1e-07``, ``1e+16``, ``-0.0``, ``1.0`` — a float stays a float);
  NaN and ±Infinity are refused;
- object keys must be strings; tuples are written as arrays; anything else (numpy scalars,
  UUIDs, datetimes, bytes) is refused: payload builders convert explicitly.

The verifier never re-serialises: it hashes the stored bytes. It does check that the stored
bytes are canonical (parse, re-encode, compare), so a payload cannot carry a second meaning.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.hashing import canonical_json


class PayloadError(ValueError):
    """The value cannot be an audit payload (a type or a number JSON cannot hold exactly)."""


def canonical_payload(payload: dict[str, Any]) -> bytes:
    if not isinstance(payload, dict):
        raise PayloadError("an audit payload is a JSON object")
    return canonical_json(_checked(payload, "$"))


def is_canonical(data: bytes) -> bool:
    try:
        value = json.loads(data)
        return isinstance(value, dict) and canonical_payload(value) == data
    except (ValueError, UnicodeDecodeError):
        return False


def _checked(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"{path}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise PayloadError(f"{path}: object keys must be strings, got {key!r}")
        return {str.__str__(k): _checked(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_checked(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise PayloadError(f"{path}: {type(value).__name__} is not a JSON value; convert it first")
