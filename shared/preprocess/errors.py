"""Why an input was refused: the preprocessing kinds of the domain errors in ``shared.errors``."""

from __future__ import annotations

from shared.errors import MAX_FIELD_NAME, MAX_REPORTED, InvalidInput, UnsupportedMedia

__all__ = ["MAX_FIELD_NAME", "MAX_REPORTED", "InputError", "UnsupportedInput"]


class InputError(InvalidInput):
    """Invalid input: ``errors`` name each offending field and the reason."""


class UnsupportedInput(UnsupportedMedia):
    """A media type the service does not take (recognised by content, not by name)."""
