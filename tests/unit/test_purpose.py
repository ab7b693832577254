"""The auditor's stated purpose, read from the raw ``X-Audit-Purpose`` bytes: printable ASCII as
it is, other text only as an RFC 8187 ext-value (UTF-8, percent-encoded); garbled, ambiguous,
duplicated or control-character values are refused with the reason."""

from __future__ import annotations

import re
import urllib.parse

import pytest

from services.api.core.purpose import PurposeError, decode_purpose
from shared.audit.access import MAX_PURPOSE, purpose_problem


def _ext_value(text: str) -> bytes:
    """What a client sends for non-ASCII text (the pages do the same in api.js)."""
    return b"UTF-8''" + urllib.parse.quote(text, safe="!#$&+-.^_`|~").encode()


@pytest.mark.parametrize(
    "text",
    ["Beschwerde über die Entscheidung", "révision — 検査", "Ärztekammer 2026/114 (100 %)", "🩺"],
)
def test_any_printable_text_round_trips_as_an_ext_value(text: str) -> None:
    assert decode_purpose([_ext_value(text)]) == text


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"complaint 2026-114: review", "complaint 2026-114: review"),
        (b"100% of cases, 'quoted'", "100% of cases, 'quoted'"),
        (b"it's'fine", "it's'fine"),  # two apostrophes, no charset: plain text
        (b"utf-8'en'ok%21", "ok!"),
        (b"  padded  ", "padded"),
    ],
)
def test_ascii_is_taken_as_it_is(raw: bytes, text: str) -> None:
    assert decode_purpose([raw]) == text


def test_absent_is_none_and_two_headers_are_refused() -> None:
    assert decode_purpose([]) is None
    with pytest.raises(PurposeError, match="more than once"):
        decode_purpose([b"one", b"two"])
    with pytest.raises(PurposeError, match="more than once"):
        decode_purpose([b"same", b"same"])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("révision".encode(), "printable ASCII"),  # raw UTF-8 bytes
        ("révision".encode("latin-1"), "printable ASCII"),
        (b"\x1b[31mred", "printable ASCII"),
        (b"a\x00b", "printable ASCII"),
        (b"a\tb", "printable ASCII"),
        (b"del\x7f", "printable ASCII"),
        (b"UTF-8''%1B%5B31m", "U+001B"),
        (b"UTF-8''%C2%9B31m", "U+009B"),
        (b"UTF-8''a%E2%80%AEb", "U+202E"),  # right-to-left override
        (b"UTF-8''a%E2%80%8Bb", "U+200B"),  # zero-width space
        (b"UTF-8''a%E2%80%A8b", "U+2028"),  # line separator
        (b"UTF-8''%0D%0AX-Injected: 1", "U+000D"),
        (b"UTF-8''%FF", "not UTF-8"),
        (b"UTF-8''%C3", "not UTF-8"),
        (b"UTF-8''%ED%A0%80", "not UTF-8"),  # an encoded surrogate
        (b"UTF-8''%zz", "percent-encoding"),
        (b"UTF-8''%4", "percent-encoding"),
        (b"UTF-8''caf\xc3\xa9", "percent-encoding"),
        (b"ISO-8859-1''caf%E9", "not supported"),
        (b"latin1''caf%E9", "not supported"),
        (b"UTF-8''", "required"),
        (b"UTF-8''%20%20", "required"),
    ],
)
def test_what_cannot_be_stored_as_meant_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(PurposeError, match=re.escape(reason)):
        decode_purpose([raw])


def test_the_length_is_counted_in_characters_once_decoded() -> None:
    assert decode_purpose([_ext_value("検" * MAX_PURPOSE)]) == "検" * MAX_PURPOSE
    with pytest.raises(PurposeError, match=f"at most {MAX_PURPOSE}"):
        decode_purpose([_ext_value("検" * (MAX_PURPOSE + 1))])


def test_the_recorded_purpose_is_checked_wherever_it_comes_from() -> None:
    assert purpose_problem("review") is None
    assert "U+001B" in (purpose_problem("\x1b[2J") or "")
    assert purpose_problem("   ") is not None
