"""Domain errors raised anywhere reach the client as one problem+json shape, with the status
of their kind (the one mapping in services/api/core/errors.py)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.api.core.errors import install_error_handlers, status_of
from shared.audit.feedback import FeedbackError
from shared.bundles.registry import UnknownModel
from shared.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    Unavailable,
    UnsupportedMedia,
)
from shared.preprocess import NotReproducible
from shared.preprocess.errors import InputError, UnsupportedInput

CASES: list[tuple[DomainError, int, str, list[dict[str, str]]]] = [
    (
        InvalidInput.field("from", "must be before `to`"),
        422,
        "Invalid input",
        [{"field": "from", "reason": "must be before `to`"}],
    ),
    (
        InputError.field("file", "truncated"),
        422,
        "Invalid input",
        [{"field": "file", "reason": "truncated"}],
    ),
    (
        FeedbackError("reason", "required with override"),
        422,
        "Invalid input",
        [{"field": "reason", "reason": "reason: required with override"}],
    ),
    (UnsupportedInput("not PNG, JPEG or DICOM"), 415, "Unsupported media type", []),
    (UnsupportedMedia("nope"), 415, "Unsupported media type", []),
    (
        UnknownModel("no model named 'x'"),
        404,
        "Unknown model",
        [{"field": "model", "reason": "no model named 'x'"}],
    ),
    (NotFound("no prediction 1"), 404, "Not found", []),
    (NotReproducible("tensor differs"), 409, "Input no longer reproducible", []),
    (Conflict("busy"), 409, "Conflict", []),
    (Unavailable("database down"), 503, "Unavailable", []),
    (DomainError("something else"), 400, "Bad request", []),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{index}")
    def _raise(index: int) -> None:
        raise CASES[index][0]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_each_kind_maps_to_its_status_and_problem(client: TestClient, index: int) -> None:
    error, status, title, errors = CASES[index]
    assert status_of(error) == status
    response = client.get(f"/raise/{index}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    expected = {"type": "about:blank", "title": title, "status": status, "detail": error.detail}
    assert body == ({**expected, "errors": errors} if errors else expected)


def test_the_domain_errors_keep_their_builtin_bases() -> None:
    """Callers that caught the builtin kinds before (``except ValueError``) still catch them."""
    assert isinstance(InputError("x"), ValueError)
    assert isinstance(FeedbackError("f", "m"), ValueError)
    assert isinstance(UnknownModel("x"), LookupError)
