"""Every audit record kind, each format version, in one registry: what the writers write, and
what the verifier, the row checks and the report read.

A stored payload names its format in ``"format": "<kind>/<version>"``; a payload without that
key is version 1 of its record's kind (0.1.0 wrote no key). Each ``(kind, version)`` has one
pydantic model (:class:`~shared.audit.formats.base.Payload`) with one canonical serialisation.
New records are written in :data:`CURRENT`; old ones are read, checked and rebuilt by the
model of their own version, never by today's. Versions are never edited, only added:

==========  ===========================================  ========================
version     what changed                                 canonical JSON
==========  ===========================================  ========================
1 (0.1.0)   —                                            ``python-json/1``
2 (0.2.0)   ``format`` and ``release`` (version, commit)  RFC 8785 (JCS)
3 (0.3.0)   prediction: ``outputs.outcome``, jobs'        RFC 8785 (JCS)
            ``target_label``; explanation:
            ``target_label`` (other kinds stay at 2)
==========  ===========================================  ========================
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from shared.audit.canonical import PayloadError
from shared.audit.formats import v1, v2, v3
from shared.audit.formats.base import DecisionRows, Payload, encode, is_canonical

DECISION_KINDS = ("prediction", "explanation", "feedback")


class FormatError(ValueError):
    """A payload in no registered format, or not valid in the format it names."""


def _index(*models: type[Payload]) -> dict[str, dict[int, type[Payload]]]:
    registry: dict[str, dict[int, type[Payload]]] = {}
    for model in models:
        versions = registry.setdefault(model.KIND, {})
        if model.VERSION in versions:
            raise RuntimeError(f"{model.format_name()} is declared twice")
        versions[model.VERSION] = model
    return registry


FORMATS: dict[str, dict[int, type[Payload]]] = _index(*v1.MODELS, *v2.MODELS, *v3.MODELS)
CURRENT: dict[str, type[Payload]] = {
    kind: versions[max(versions)] for kind, versions in FORMATS.items()
}
KINDS = tuple(FORMATS)


def version_of(kind: str, value: Any) -> int:
    """The format version a parsed payload of a ``kind`` record states (1 if it states none)."""
    if not isinstance(value, dict):
        raise FormatError("an audit payload is a JSON object")
    named = value.get("format")
    if named is None:
        return 1
    if not isinstance(named, str) or "/" not in named:
        raise FormatError(f"format {named!r} is not '<kind>/<version>'")
    named_kind, _, number = named.rpartition("/")
    if named_kind != kind:
        raise FormatError(f"format {named!r} is not a format of {kind} records")
    if not number.isdigit() or number.startswith("0") or int(number) == 1:
        raise FormatError(f"format {named!r} names no version (version 1 states none)")
    return int(number)


def model_of(kind: str, version: int) -> type[Payload]:
    try:
        return FORMATS[kind][version]
    except KeyError:
        raise FormatError(f"no record format {kind}/{version} in this release") from None


def format_of(kind: str, data: bytes) -> type[Payload]:
    """The model of a stored payload's format (FormatError: unknown kind, version, or JSON)."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatError(f"payload is not JSON ({exc})") from exc
    return model_of(kind, version_of(kind, value))


def parse(kind: str, data: bytes) -> Payload:
    """A stored payload as the typed model of its own format version."""
    model = format_of(kind, data)
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '$'}: {e['msg']}" for e in exc.errors()
        )
        raise FormatError(f"not a valid {model.format_name()} payload: {problems}") from exc


def check(kind: str, data: bytes) -> Payload:
    """Parse a stored payload and require it to be exactly its format's canonical bytes."""
    payload = parse(kind, data)
    try:
        canonical = payload.canonical_as_read()
    except PayloadError as exc:  # stored bytes no writer of this format could have made
        name = payload.format_name()
        raise FormatError(f"payload cannot be re-encoded as {name}: {exc}") from exc
    if canonical == data:
        return payload
    if not is_canonical(payload.SCHEME, data):
        raise FormatError(
            f"payload is not canonical JSON ({payload.format_name()}: {payload.SCHEME})"
        )
    raise FormatError(f"payload is not in the {payload.format_name()} layout")


def canonical_value(kind: str, value: dict[str, Any]) -> bytes:
    """The canonical bytes of a JSON object as a ``kind`` record of the format it states."""
    return encode(model_of(kind, version_of(kind, value)).SCHEME, value)


__all__ = [
    "CURRENT",
    "DECISION_KINDS",
    "FORMATS",
    "KINDS",
    "DecisionRows",
    "FormatError",
    "Payload",
    "canonical_value",
    "check",
    "format_of",
    "model_of",
    "parse",
    "version_of",
]
