"""RFC 8785 payloads hold doubles: one that JCS writes as digits past 2**53 (an integral float
such as a huge parameter or quality figure) is checked again as the double it is, and stored
digits no double has are a format error of that record, never a crash of the verifier."""

from __future__ import annotations

import re

import pytest

from shared.audit import formats
from shared.audit.formats.base import encode
from tests.support.audit_payloads import ELSEWHERE, replay_payload


@pytest.mark.parametrize("value", [2.0**53, -(2.0**60), 1e20, 123456789012345680.0])
def test_an_integral_double_past_2_53_written_as_digits_checks_again(value: float) -> None:
    data = replay_payload({"figure": value}, release=ELSEWHERE).canonical()
    assert re.search(rb'"figure":-?[0-9]+[,}]', data), data  # JCS writes it as digits
    parsed = formats.check("replay", data)
    assert parsed.canonical_as_read() == data


@pytest.mark.parametrize("digits", [str(2**53 + 1), str(-(2**63) - 1), "1" + "0" * 400])
def test_digits_no_double_holds_are_a_format_error(digits: str) -> None:
    good = replay_payload({"figure": 1}, release=ELSEWHERE).canonical()
    forged = good.replace(b'"figure":1', b'"figure":' + digits.encode())
    with pytest.raises(formats.FormatError):
        formats.check("replay", forged)


@pytest.mark.parametrize("number", [2**53, 2**53 + 1, -(2**60)])
def test_a_writer_s_integer_past_2_53_is_still_refused(number: int) -> None:
    with pytest.raises(ValueError, match="RFC 8785"):
        encode("rfc8785", {"n": number})
