"""The one mapping of domain errors (``shared.errors``) to RFC 9457 problem+json responses.

Services raise domain errors and know nothing of HTTP; the handlers below give each kind its
status. Only authentication and authorisation, which live in the API, raise :class:`Problem`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.core.openapi import component_ref
from services.api.core.problems import ProblemDetails
from shared.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidInput,
    NotFound,
    Unavailable,
    UnsupportedMedia,
)

__all__ = ["PROBLEM_JSON", "Forbidden", "Problem", "Unauthorized", "status_of"]

PROBLEM_JSON = "application/problem+json"
MAX_DETAIL = 2000
MAX_REASON = 300

_DESCRIPTIONS = {
    401: "no valid token: send `Authorization: Bearer <token>`",
    403: "the token's role may not do this",
    404: "unknown resource",
    409: "the resource's state does not allow this",
    413: "body over the size cap",
    415: "not multipart/form-data or application/json, or not PNG/JPEG/DICOM",
    422: "invalid input; `errors` name the fields",
    503: "the record is unavailable: no diagnosis is given without its record; retry",
}

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422),
    (UnsupportedMedia, 415),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
)


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error: by its kind (400 for a kind not listed)."""
    return next((status for kind, status in _STATUS if isinstance(error, kind)), 400)


class Problem(Exception):
    """An error of the HTTP layer itself (authentication, authorisation) with its status."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


def problem_body(
    status: int, title: str, detail: str, errors: Sequence[FieldError] = ()
) -> dict[str, Any]:
    """The problem+json body; user input echoed in it is clipped, so it stays small."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = _clip(detail, MAX_DETAIL)
    if errors:
        body["errors"] = [
            {"field": _clip(e["field"], MAX_REASON), "reason": _clip(e["reason"], MAX_REASON)}
            for e in errors
        ]
    return body


def _clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def problem_response(
    status: int,
    title: str,
    detail: str,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, title, detail, errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_responses(
    *codes: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route: each code as problem+json referring to the one
    ``ProblemDetails`` component (``descriptions`` override the default text per code)."""
    texts = {**_DESCRIPTIONS, **(descriptions or {})}
    schema = component_ref(ProblemDetails, mode="serialization")
    return {
        code: {"description": texts[code], "content": {PROBLEM_JSON: {"schema": schema}}}
        for code in codes
    }


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem_response(status_of(exc), exc.title, exc.detail, exc.errors)

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        return problem_response(
            503, "Record unavailable", "the database is unreachable; nothing was recorded, retry"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        invalid = InvalidInput.of(
            [
                FieldError(field=".".join(str(p) for p in e["loc"] if p != "body"), reason=e["msg"])
                for e in exc.errors()
            ]
        )
        return problem_response(422, invalid.title, invalid.detail, invalid.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # the framework could not parse the body (e.g. not UTF-8)
            reason = "not parseable as the declared content type"
            field = FieldError(field="body", reason=reason)
            return problem_response(422, InvalidInput.title, f"body: {reason}", [field])
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Bad request")
        return problem_response(exc.status_code, title, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        """A bug, not bad input: still problem+json (the traceback goes to the log)."""
        return problem_response(500, "Internal error", f"unexpected {type(exc).__name__}")
