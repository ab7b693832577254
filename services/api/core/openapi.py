"""What makes the OpenAPI document good input for client generators: short stable operation
ids (``predictions-create``) and each shared shape declared once as a component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.api.core.problems import component_schemas

_VERBS = {"post": "create"}


def operation_id(route: APIRoute) -> str:
    """``<tag>-<action>`` from the route function's name, e.g. ``post_prediction`` under
    ``predictions`` is ``predictions-create`` and ``get_heatmap`` under ``explanations`` is
    ``explanations-get-heatmap``: generators name their methods after it. ``post`` reads
    ``create``; the tag's own noun is dropped, since the tag already says it."""
    tag = str(route.tags[0]) if route.tags else "api"
    words = route.name.split("_")
    words[0] = _VERBS.get(words[0], words[0])
    action = [w for w in words if w not in (tag, tag.removesuffix("s"))] or words
    return "-".join([tag, *action])


def install_components(app: FastAPI) -> None:
    """Add the problem components to the app's OpenAPI document: error responses refer to them
    by ``$ref``, and FastAPI itself lists only the models of success responses and bodies."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(component_schemas())
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry of a route answering 200 with bytes of ``media_type``."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}
