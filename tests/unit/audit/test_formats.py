"""The record-format registry: how a payload names its version, each version's canonical
bytes, and the release a new record names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import rfc8785

from shared.audit import formats
from shared.audit.canonical import canonical_payload
from shared.audit.formats.v1 import AccessV1
from shared.audit.formats.v2 import AccessV2, Release
from shared.settings import Settings, get_settings
from shared.versions import checkout_commit, release
from tests.support.audit_payloads import ELSEWHERE, replay_payload

KINDS = {
    "prediction", "explanation", "feedback", "access", "token", "hold", "purge", "replay",
    "admission",
}  # fmt: skip
ACCESS: dict[str, Any] = {
    "token_id": "t",
    "role": "auditor",
    "name": "a",
    "action": "GET /v1/audit/verify",
    "subject_id": None,
    "purpose": "review",
    "at": "2026-01-05T09:30:00.000000+00:00",
}


# The newest format of each kind; a kind whose records change gains a version here.
NEWEST = {"prediction": 3, "explanation": 3}
# The first format of a kind added after 0.1.0 (version 1 of it was never written).
FIRST = {"admission": 2}


def test_every_kind_keeps_its_versions_and_new_records_are_the_newest() -> None:
    assert set(formats.KINDS) == KINDS == set(formats.DECISION_KINDS) | {
        "access", "token", "hold", "purge", "replay", "admission",
    }  # fmt: skip
    for kind in KINDS:
        first, newest = FIRST.get(kind, 1), NEWEST.get(kind, 2)
        assert set(formats.FORMATS[kind]) == set(range(first, newest + 1))
        assert formats.CURRENT[kind].format_name() == f"{kind}/{newest}"
        if first == 1:
            assert formats.model_of(kind, 1).SCHEME == "python-json/1"
        for number in range(2, newest + 1):
            assert formats.model_of(kind, number).SCHEME == "rfc8785"


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"a": 1}, 1), ({"format": "access/2"}, 2), ({"format": "access/17"}, 17)],
)
def test_a_payload_without_a_format_key_is_version_1(value: dict, expected: int) -> None:
    assert formats.version_of("access", value) == expected


@pytest.mark.parametrize(
    "named", ["prediction/2", "access/1", "access/02", "access/x", "access", 2, ""]
)
def test_a_format_naming_another_kind_or_no_version_is_refused(named: object) -> None:
    with pytest.raises(formats.FormatError):
        formats.version_of("access", {"format": named})


def test_an_unknown_version_is_named_in_the_error() -> None:
    with pytest.raises(formats.FormatError, match="access/9"):
        formats.format_of("access", b'{"format":"access/9"}')


def test_version_2_is_rfc8785_and_version_1_is_unchanged() -> None:
    outcome = {"f": [1.0, 1e-07, -0.0, 1e21, 0.30000000000000004], "\ue000": 1, "\U0001f600": 2}
    data = replay_payload(outcome, release=ELSEWHERE).canonical()
    assert data == rfc8785.dumps(json.loads(data))
    assert b'"f":[1,1e-7,0,1e+21,0.30000000000000004]' in data
    assert data.index("\U0001f600".encode()) < data.index("\ue000".encode())  # UTF-16 order
    v1 = canonical_payload({"f": outcome["f"], "\ue000": 1, "\U0001f600": 2})
    assert (
        v1 == '{"f":[1.0,1e-07,-0.0,1e+21,0.30000000000000004],"\ue000":1,"\U0001f600":2}'.encode()
    )


def test_check_requires_the_exact_canonical_bytes_of_a_valid_payload() -> None:
    good = AccessV2.new(release=ELSEWHERE, **ACCESS).canonical()
    assert isinstance(formats.check("access", good), AccessV2)
    value = json.loads(good)
    spaced = json.dumps(value, sort_keys=True).encode()
    with pytest.raises(formats.FormatError, match="not canonical"):
        formats.check("access", spaced)
    for broken, reason in [
        ({**value, "extra": 1}, "extra: Extra inputs are not permitted"),
        ({k: v for k, v in value.items() if k != "release"}, "release: Field required"),
        ({**value, "format": "token/2"}, "not a format of access records"),
    ]:
        with pytest.raises(formats.FormatError, match=reason):
            formats.check("access", rfc8785.dumps(broken))


def test_a_version_1_payload_is_read_and_written_as_0_1_0_wrote_it() -> None:
    data = canonical_payload(ACCESS)  # 0.1.0 left out "query" when there was none
    parsed = formats.check("access", data)
    assert type(parsed) is AccessV1 and parsed.canonical() == data
    assert "query" not in json.loads(parsed.canonical())


def test_a_new_record_names_the_running_release() -> None:
    payload = AccessV2.new(**ACCESS)
    running = release()
    assert payload.release == Release(version=running.version, commit=running.commit)
    assert payload.format == "access/2"
    with pytest.raises(ValueError, match="expected 'access/2'"):
        AccessV2.model_validate({**ACCESS, "format": "access/3", "release": ELSEWHERE})


@pytest.fixture
def fresh_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    release.cache_clear()
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    release.cache_clear()
    get_settings.cache_clear()


def test_the_release_is_the_package_version_and_the_configured_commit(
    fresh_release: pytest.MonkeyPatch,
) -> None:
    fresh_release.setenv("XAI_CASE_REF_KEY", "k" * 32)
    fresh_release.setenv("XAI_BUILD_COMMIT", "0123abc")
    assert release().version == version("xai-stack")
    assert release().commit == "0123abc"
    assert Settings(case_ref_key="k" * 32).build_commit == "0123abc"  # type: ignore[arg-type]


def test_without_a_configured_commit_the_checkout_s_head_is_named(
    fresh_release: pytest.MonkeyPatch,
) -> None:
    fresh_release.delenv("XAI_BUILD_COMMIT", raising=False)
    fresh_release.setenv("XAI_CASE_REF_KEY", "k" * 32)
    head = checkout_commit()
    assert re.fullmatch(r"[0-9a-f]{40}", head)  # this test runs in a git checkout
    assert release().commit == head
