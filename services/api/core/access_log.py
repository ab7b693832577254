"""Access-log hygiene: query values that must never reach a log file are redacted.

``token`` (the events stream's credential, since a browser's EventSource cannot send headers)
and ``case_ref`` (an auditor's search term: a patient reference in plaintext) ride in query
strings; uvicorn's access log (``xai serve --access-log``) would write them verbatim.
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMETERS = ("token", "case_ref")
_PATTERN = re.compile(r"(?<=[?&])(" + "|".join(SECRET_PARAMETERS) + r")=[^&#\s]*")


def redact(path: str) -> str:
    return _PATTERN.sub(r"\1=[redacted]", path)


class RedactQuery(logging.Filter):
    """For the ``uvicorn.access`` logger: its records carry the path as the third argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())
