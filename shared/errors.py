"""Domain errors: what services raise when they refuse a request.

Services and shared code raise these; only the API layer turns them into HTTP responses
(``services/api/core/errors.py`` maps each kind below to one status). Each error carries a
``detail`` sentence for the caller and, for bad input, ``errors`` naming the offending fields.
``title`` is a short fixed summary of the kind; a subclass may make it more specific.

This module imports nothing from the project, so any module may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self, TypedDict

MAX_REPORTED = 20
"""At most this many field errors are listed: a hostile body cannot inflate the response."""
MAX_FIELD_NAME = 100


class FieldError(TypedDict):
    """One offending input field and why it was refused."""

    field: str
    reason: str


class DomainError(Exception):
    """A request the domain refuses; ``detail`` says why, ``errors`` name fields (if any)."""

    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[FieldError] = list(errors)


class InvalidInput(DomainError, ValueError):
    """Input that cannot be used as given; ``errors`` name each offending field."""

    title: ClassVar[str] = "Invalid input"

    @classmethod
    def field(cls, field: str, reason: str) -> Self:
        """``field`` may come from the client (a form field's name): a long one is clipped."""
        if len(field) > MAX_FIELD_NAME:
            field = f"{field[: MAX_FIELD_NAME - 1]}…"
        return cls(f"{field}: {reason}", errors=[FieldError(field=field, reason=reason)])

    @classmethod
    def of(cls, errors: Sequence[FieldError]) -> Self:
        """One error listing every problem (the first ``MAX_REPORTED``, then a count)."""
        shown = list(errors[:MAX_REPORTED])
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in shown)
        if len(errors) > len(shown):
            detail += f"; and {len(errors) - len(shown)} more"
        return cls(detail, errors=shown)


class UnsupportedMedia(DomainError, ValueError):
    """A media type the service does not take (recognised by content, not by name)."""

    title: ClassVar[str] = "Unsupported media type"


class NotFound(DomainError, LookupError):
    """The named resource does not exist (or is no longer kept)."""

    title: ClassVar[str] = "Not found"


class Conflict(DomainError):
    """The resource exists but its state does not allow the request."""

    title: ClassVar[str] = "Conflict"


class Unavailable(DomainError):
    """A dependency needed to answer (database, queue) cannot be reached; retrying may help."""

    title: ClassVar[str] = "Unavailable"
