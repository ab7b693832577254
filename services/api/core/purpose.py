"""The auditor's stated purpose as sent in ``X-Audit-Purpose``: one header, decoded exactly.

HTTP header values are bytes; only ASCII has one reading (RFC 9110 §5.5). So the value is
either printable ASCII, taken as it is, or an RFC 8187 ext-value, ``UTF-8''`` followed by the
UTF-8 bytes percent-encoded (an optional language tag may sit between the quotes:
``UTF-8'de'Pr%C3%BCfung``), which is how a client sends any other text. Everything else is
refused with the reason, never guessed at: raw non-ASCII bytes (a Latin-1 reading would store
UTF-8 text garbled), a charset other than UTF-8, broken percent-encoding or UTF-8, and the
header given more than once (which of them would be the purpose?). Control characters are
refused after decoding, by :func:`shared.audit.access.purpose_problem`.
"""

from __future__ import annotations

import codecs
import re

from shared.audit.access import purpose_problem

__all__ = ["PurposeError", "decode_purpose"]

_EXT_VALUE = re.compile(
    rb"(?P<charset>[A-Za-z0-9!#$&+\-^_`{}~]+)'(?P<language>[A-Za-z0-9-]*)'(?P<value>.*)"
)
_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]*")


class PurposeError(ValueError):
    """The header cannot be read as one purpose; the message says why."""


def decode_purpose(values: list[bytes]) -> str | None:
    """The purpose in the ``X-Audit-Purpose`` header values of one request (None: absent)."""
    if not values:
        return None
    if len(values) > 1:
        raise PurposeError(f"given more than once ({len(values)} headers): send one")
    raw = values[0].strip(b" \t")
    match = _EXT_VALUE.fullmatch(raw)
    charset = _charset(match["charset"]) if match is not None else None
    if match is not None and charset == "utf-8":
        text = _percent_decoded(match["value"])
    elif charset is not None:
        raise PurposeError(
            f"charset {match['charset'].decode('ascii')!r} is not supported: "  # type: ignore[index]
            "send UTF-8''<percent-encoded UTF-8>"
        )
    elif _PRINTABLE_ASCII.fullmatch(raw):
        text = raw.decode("ascii")
    else:
        raise PurposeError(
            "must be printable ASCII; send other text as UTF-8''<percent-encoded UTF-8> (RFC 8187)"
        )
    problem = purpose_problem(text)
    if problem is not None:
        raise PurposeError(problem)
    return text


def _charset(name: bytes) -> str | None:
    """The codec an ext-value's charset names; None if it names none (then the value is
    plain text that happens to hold two apostrophes)."""
    try:
        return codecs.lookup(name.decode("ascii")).name
    except LookupError:
        return None


def _percent_decoded(value: bytes) -> str:
    if _PERCENT.search(value) or not _PRINTABLE_ASCII.fullmatch(value):
        raise PurposeError("broken percent-encoding: each % takes two hex digits, ASCII only")
    data = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), value)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PurposeError("the percent-encoded bytes are not UTF-8") from None
