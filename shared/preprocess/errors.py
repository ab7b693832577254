"""Why an input was refused; the API maps these to 422 and 415 problem+json responses."""

from __future__ import annotations


class InputError(ValueError):
    """Invalid input: ``errors`` name each offending field and the reason."""

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, reason: str) -> InputError:
        return cls(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


class UnsupportedInput(ValueError):
    """A media type the service does not take (recognised by content, not by name)."""
