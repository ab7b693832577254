"""What every record format shares: a typed payload model and the canonical bytes it has.

A payload model's one serialisation is :meth:`Payload.canonical`: its fields as set (a field
a builder left out stays out, as in the dicts version 1 was written from) in its version's
canonical JSON. ``SCHEME`` names that canonical form:

- ``"python-json/1"`` (version 1 of every kind): :func:`shared.audit.canonical.canonical_payload`
  (sorted keys, no spaces, UTF-8, floats as Python's shortest ``repr`` such as ``1.0``);
- ``"rfc8785"`` (version 2 on): the JSON Canonicalization Scheme of RFC 8785 (keys sorted by
  UTF-16 code units, numbers as ECMAScript writes them: ``1.0`` is ``1``, ``1e21`` is
  ``1e+21``), which any language's JCS library reproduces.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict

from shared.audit.canonical import PayloadError, canonical_payload
from shared.db.models import ClinicianFeedback, ExplanationJob, ExplanationResult, Prediction

Scheme = Literal["python-json/1", "rfc8785"]
_SAFE_INT = 2**53 - 1


def encode(scheme: Scheme, value: dict[str, Any]) -> bytes:
    """The canonical bytes of a JSON object in ``scheme``; PayloadError if JSON cannot hold it."""
    if scheme == "python-json/1":
        return canonical_payload(value)
    if not isinstance(value, dict):
        raise PayloadError("an audit payload is a JSON object")
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise PayloadError(f"not RFC 8785 canonicalisable: {exc}") from exc


def as_read(value: Any) -> Any:
    """A value parsed from stored RFC 8785 bytes, with its numbers as JCS means them. JCS
    numbers are IEEE doubles, written as ECMAScript writes them: an integral double below 1e21
    as digits (2.0**53 as ``9007199254740992``, -2.0**60 as ``-1152921504606847000``), which
    JSON parsers read back as an integer, and which the rfc8785 library refuses to write (it
    refuses integers past 2**53, as a writer must: an integer there is not exact). So an
    integer past 2**53 read from storage is the double whose JCS digits it is; any other
    (``9007199254740993``: no double is written so) stays an integer, and is refused."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _SAFE_INT:
        try:
            as_double = float(value)
        except OverflowError:
            return value  # the library refuses it, naming it
        return as_double if rfc8785.dumps(as_double) == str(value).encode() else value
    if isinstance(value, dict):
        return {key: as_read(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_read(item) for item in value]
    return value


def is_canonical(scheme: Scheme, data: bytes) -> bool:
    """Whether ``data`` is a JSON object written exactly as ``scheme`` writes it."""
    try:
        value = json.loads(data)
        return isinstance(value, dict) and encode(scheme, value) == data
    except (ValueError, UnicodeDecodeError):
        return False


class Payload(BaseModel):
    """A record kind's payload at one format version (see :mod:`shared.audit.formats`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str]
    VERSION: ClassVar[int]
    SCHEME: ClassVar[Scheme]

    @classmethod
    def format_name(cls) -> str:
        return f"{cls.KIND}/{cls.VERSION}"

    def canonical(self) -> bytes:
        return encode(self.SCHEME, self.model_dump(mode="json", exclude_unset=True))

    def canonical_as_read(self) -> bytes:
        """The canonical bytes of a payload parsed from storage (see :func:`as_read`): what
        the verifier compares with the stored bytes."""
        value = self.model_dump(mode="json", exclude_unset=True)
        return encode(self.SCHEME, as_read(value) if self.SCHEME == "rfc8785" else value)

    @classmethod
    def from_rows(cls, rows: DecisionRows, written: Payload) -> Payload:
        """A decision record rebuilt from its live rows, as ``written`` was built."""
        raise TypeError(f"{cls.format_name()} is not rebuilt from rows")


class Strict(BaseModel):
    """A nested part of a payload: closed, immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class DecisionRows:
    """The live rows a decision record was built from, read back for the verifier."""

    prediction: Prediction
    jobs: Sequence[ExplanationJob] = ()
    job: ExplanationJob | None = None
    result: ExplanationResult | None = None
    feedback: ClinicianFeedback | None = None
    clinician_name: str = ""
