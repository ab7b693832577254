"""Domain errors of the API and their one mapping to RFC 9457 problem+json responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.bundles.registry import UnknownModel
from shared.preprocess.errors import InputError, UnsupportedInput

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error with an HTTP status; ``errors`` name the offending fields."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(Problem):
    status = 404
    title = "Not found"


def problem_response(
    status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return problem_response(422, "Invalid input", exc.detail, exc.errors)

    @app.exception_handler(UnsupportedInput)
    async def _media(_: Request, exc: UnsupportedInput) -> JSONResponse:
        return problem_response(415, "Unsupported media type", str(exc))

    @app.exception_handler(UnknownModel)
    async def _unknown_model(_: Request, exc: UnknownModel) -> JSONResponse:
        return problem_response(
            404, "Unknown model", str(exc), [{"field": "model", "reason": str(exc)}]
        )

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        return problem_response(
            503, "Record unavailable", "the database is unreachable; nothing was recorded, retry"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(422, "Invalid input", detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Bad request")
        return problem_response(exc.status_code, title, str(exc.detail))
