"""Domain errors of the API and their one mapping to RFC 9457 problem+json responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.api.core.problems import ProblemDetails
from shared.audit import FeedbackError
from shared.bundles.registry import UnknownModel
from shared.preprocess import NotReproducible
from shared.preprocess.errors import InputError, UnsupportedInput

PROBLEM_JSON = "application/problem+json"
MAX_DETAIL = 2000
MAX_REASON = 300

_DESCRIPTIONS = {
    401: "no valid token: send `Authorization: Bearer <token>`",
    403: "the token's role may not do this",
    404: "unknown resource",
    413: "body over the size cap",
    415: "not multipart/form-data or application/json, or not PNG/JPEG/DICOM",
    422: "invalid input; `errors` name the fields",
    503: "the record is unavailable: no diagnosis is given without its record; retry",
}


class Problem(Exception):
    """An error with an HTTP status; ``errors`` name the offending fields."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers


class NotFound(Problem):
    status = 404
    title = "Not found"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


class Forbidden(Problem):
    status = 403
    title = "Forbidden"


def problem_body(
    status: int, title: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The problem+json body; user input echoed in it is clipped, so it stays small."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = _clip(detail, MAX_DETAIL)
    if errors:
        body["errors"] = [{k: _clip(str(v), MAX_REASON) for k, v in e.items()} for e in errors]
    return body


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def problem_response(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, title, detail, errors)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_responses(
    *codes: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a route: each code as problem+json with the ProblemDetails schema
    (``descriptions`` override the default text per code)."""
    schema = _inline(ProblemDetails.model_json_schema(mode="serialization"))
    texts = {**_DESCRIPTIONS, **(descriptions or {})}
    return {
        code: {
            "description": texts[code],
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for code in codes
    }


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve pydantic's local ``$defs`` so the schema stands alone inside an OpenAPI document."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return problem_response(422, "Invalid input", exc.detail, exc.errors)

    @app.exception_handler(FeedbackError)
    async def _feedback(_: Request, exc: FeedbackError) -> JSONResponse:
        return problem_response(
            422, "Invalid input", str(exc), [{"field": exc.field, "reason": str(exc)}]
        )

    @app.exception_handler(UnsupportedInput)
    async def _media(_: Request, exc: UnsupportedInput) -> JSONResponse:
        return problem_response(415, "Unsupported media type", str(exc))

    @app.exception_handler(UnknownModel)
    async def _unknown_model(_: Request, exc: UnknownModel) -> JSONResponse:
        return problem_response(
            404, "Unknown model", str(exc), [{"field": "model", "reason": str(exc)}]
        )

    @app.exception_handler(NotReproducible)
    async def _not_reproducible(_: Request, exc: NotReproducible) -> JSONResponse:
        return problem_response(409, "Input no longer reproducible", str(exc))

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: DBAPIError) -> JSONResponse:
        return problem_response(
            503, "Record unavailable", "the database is unreachable; nothing was recorded, retry"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        invalid = InputError.of(
            [
                {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]}
                for e in exc.errors()
            ]
        )
        return problem_response(422, "Invalid input", invalid.detail, invalid.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # the framework could not parse the body (e.g. not UTF-8)
            reason = "not parseable as the declared content type"
            return problem_response(
                422, "Invalid input", f"body: {reason}", [{"field": "body", "reason": reason}]
            )
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Bad request")
        return problem_response(exc.status_code, title, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        """A bug, not bad input: still problem+json (the traceback goes to the log)."""
        return problem_response(500, "Internal error", f"unexpected {type(exc).__name__}")
