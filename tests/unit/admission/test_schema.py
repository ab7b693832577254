"""docs/manifest.schema.json is the manifest's current JSON Schema; it accepts a real manifest."""

from __future__ import annotations

import json
from pathlib import Path

from services.admission.schema import manifest_schema
from services.cli.main import main

SCHEMA = Path(__file__).parents[3] / "docs" / "manifest.schema.json"


def test_the_checked_in_schema_is_current() -> None:
    assert json.loads(SCHEMA.read_text()) == manifest_schema(), (
        "regenerate it: xai models schema > docs/manifest.schema.json"
    )


def test_xai_models_schema_prints_it(capsys) -> None:
    assert main(["models", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA.read_text())


def test_the_schema_names_the_manifest_fields() -> None:
    schema = manifest_schema()
    assert set(schema["required"]) == {"name", "version", "task", "input", "output"}
    assert schema["properties"]["task"]["enum"] == [
        "image-classification",
        "tabular-classification",
    ]
