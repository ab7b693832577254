"""Why an input was refused; the API maps these to 422 and 415 problem+json responses."""

from __future__ import annotations

MAX_REPORTED = 20
"""At most this many field errors are listed: a hostile body cannot inflate the response."""
MAX_FIELD_NAME = 100


class InputError(ValueError):
    """Invalid input: ``errors`` name each offending field and the reason."""

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, reason: str) -> InputError:
        """``field`` may come from the client (a form field's name): a long one is clipped."""
        if len(field) > MAX_FIELD_NAME:
            field = f"{field[: MAX_FIELD_NAME - 1]}…"
        return cls(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])

    @classmethod
    def of(cls, errors: list[dict[str, str]]) -> InputError:
        """One error listing every problem (the first ``MAX_REPORTED``, then a count)."""
        shown = errors[:MAX_REPORTED]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in shown)
        if len(errors) > len(shown):
            detail += f"; and {len(errors) - len(shown)} more"
        return cls(detail, errors=shown)


class UnsupportedInput(ValueError):
    """A media type the service does not take (recognised by content, not by name)."""
