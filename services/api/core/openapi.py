"""What makes the OpenAPI document good input for client generators: short stable operation
ids (``predictions-create``) and each shared shape declared once as a component that the
operations refer to by ``$ref`` (generators then make one class of it, not one per use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

COMPONENTS = "#/components/schemas/{model}"
_VERBS = {"post": "create"}
_DECLARED: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}


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


def component_ref(model: type[BaseModel], mode: JsonSchemaMode = "validation") -> dict[str, str]:
    """A ``$ref`` to ``model`` as a component, for schemas FastAPI does not collect itself
    (hand-written request bodies, error responses); ``mode`` "serialization" for responses."""
    _DECLARED[model.__name__] = (model, mode)
    return {"$ref": COMPONENTS.format(model=model.__name__)}


def declared_schemas() -> dict[str, dict[str, Any]]:
    """The schemas of every model passed to :func:`component_ref` and of the models they nest,
    keyed by component name."""
    found: dict[str, dict[str, Any]] = {}
    for name, (model, mode) in _DECLARED.items():
        schema = model.model_json_schema(ref_template=COMPONENTS, mode=mode)
        found.update(schema.pop("$defs", {}))
        found[name] = schema
    return found


def install_components(app: FastAPI) -> None:
    """Add the declared components to the app's OpenAPI document (FastAPI lists only the
    models of its own request and response fields); its own entries are kept as they are."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in declared_schemas().items():
            schemas.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` entry of a route answering 200 with bytes of ``media_type``."""
    schema = {"type": "string", "format": "binary"}
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}
