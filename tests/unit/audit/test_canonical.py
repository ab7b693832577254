"""Canonical payload bytes: the documented layout, byte for byte, and what is refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from shared.audit.canonical import PayloadError, canonical_payload, is_canonical


def test_layout_sorted_keys_no_spaces_utf8_and_shortest_round_trip_floats() -> None:
    payload = {
        "z": [0.1, 1e-07, 1e16, -0.0, 1.0, 2.5, 0.30000000000000004, 123456789012345678901],
        "a": {"é": "ü\n", "b": None, "a": True},
        "m": (1, 2),
    }
    expected = (
        '{"a":{"a":true,"b":null,"é":"ü\\n"},"m":[1,2],'
        '"z":[0.1,1e-07,1e+16,-0.0,1.0,2.5,0.30000000000000004,123456789012345678901]}'
    )
    assert canonical_payload(payload) == expected.encode()


def test_every_float_reads_back_exactly() -> None:
    rng = np.random.default_rng(0)
    values = [float(v) for v in rng.standard_normal(1000) * 10.0 ** rng.integers(-30, 30, 1000)]

    assert json.loads(canonical_payload({"v": values}))["v"] == values


@pytest.mark.parametrize(
    "payload",
    [
        {"x": float("nan")},
        {"x": [float("-inf")]},
        {"x": {1: "int key"}},
        {"x": np.float32(0.5)},
        {"x": uuid.uuid4()},
        {"x": datetime.now(UTC)},
        {"x": b"bytes"},
        {"x": {1.5}},
    ],
)
def test_values_json_cannot_hold_exactly_are_refused(payload: dict) -> None:
    with pytest.raises(PayloadError, match=r"\$\.x"):
        canonical_payload(payload)


def test_only_an_object_is_a_payload() -> None:
    with pytest.raises(PayloadError):
        canonical_payload([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b'{"a":1.00}',
        b'{"a":1,"a":1}',
        b'{"a":"\\u00e9"}',
        b'{"a":NaN}',
        b"[1]",
        b"\xff",
    ],
)
def test_non_canonical_bytes_are_recognised(data: bytes) -> None:
    assert not is_canonical(data)


def test_canonical_bytes_are_recognised() -> None:
    assert is_canonical(canonical_payload({"b": [1.5, "é"], "a": None}))
