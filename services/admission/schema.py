"""The manifest's JSON Schema, generated from the pydantic model (``docs/manifest.schema.json``)."""

from __future__ import annotations

from typing import Any

from shared.bundles.manifest import Manifest

SCHEMA_ID = "https://github.com/xai-stack/xai-stack/docs/manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
