"""The README's API table names only parameters the API has: every parameter-like name in a
row (a backticked lower-case identifier, ``name=…`` or ``?name=``) is a query, path, header or
body field of the route it stands with, an allowed value of one, or a field of its answer,
as the app's own OpenAPI schema says. So ``clip_percentile`` where the API takes ``clip``, or a
parameter dropped from the API but not from the README, fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.api.app import create_app
from shared.settings import Settings

README = Path(__file__).parents[2] / "README.md"
ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
SPAN = re.compile(r"`([^`]+)`")
NAME = re.compile(r"^\??([a-z][a-z0-9_]*)(=.*)?$")
# Names the schema does not list: the events stream's SSE event names, and its ``?token=``,
# which the auth dependency reads from the query string (``services.api.core.auth``).
NOT_IN_SCHEMA = {("GET", "/v1/predictions/{}/events"): {"job", "done", "token"}}


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return create_app(Settings(case_ref_key="readme-test-key-0123456789")).openapi()


def _rows() -> Iterator[str]:
    text = README.read_text()
    section = text.split("## API (v1)", 1)[1].split("\n## ", 1)[0]
    yield from (line for line in section.splitlines() if line.startswith("| `"))


def _claims(row: str) -> Iterator[tuple[list[tuple[str, str]], str]]:
    """(the routes a name stands with, the name): in the route cell, the route before it; in
    the description, any route of the row."""
    cells = re.split(r"(?<!\\)\|", row)
    route_cell, what = cells[1], cells[-2]
    routes = [(m[1], _template(m[2])) for m in ROUTE.finditer(route_cell)]
    for match in SPAN.finditer(route_cell):
        before = [(m[1], _template(m[2])) for m in ROUTE.finditer(route_cell[: match.start()])]
        name = NAME.match(match[1])
        if name and before:
            yield [before[-1]], name[1]
    for match in SPAN.finditer(what):
        name = NAME.match(match[1].replace("\\|", "|"))
        if name:
            yield routes, name[1]


def _names(spec: Any, schema: dict[str, Any], seen: set[str]) -> Iterator[str]:
    """Property names, enum and const values anywhere in ``spec`` (refs followed once)."""
    if isinstance(spec, dict):
        ref = spec.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            yield from _names(schema["components"]["schemas"][ref.rsplit("/", 1)[1]], schema, seen)
        yield from spec.get("properties", {})
        yield from (str(v) for v in spec.get("enum", []))
        if "const" in spec:
            yield str(spec["const"])
        for value in spec.values():
            yield from _names(value, schema, seen)
    elif isinstance(spec, list):
        for value in spec:
            yield from _names(value, schema, seen)


def _known(schema: dict[str, Any], method: str, path: str) -> set[str]:
    operations = {
        (m.upper(), _template(p)): op for p, ops in schema["paths"].items() for m, op in ops.items()
    }
    operation = operations.get((method, path))
    assert operation is not None, f"the README names {method} {path}, which the API lacks"
    known = {p["name"] for p in operation.get("parameters", [])}
    answers = {k: v for k, v in operation.get("responses", {}).items() if k.startswith("2")}
    parts = [operation.get("parameters", []), operation.get("requestBody", {}), answers]
    known.update(_names(parts, schema, set()))
    return known | NOT_IN_SCHEMA.get((method, path), set())


def test_the_readme_names_the_heatmap_options_the_api_takes(schema: dict[str, Any]) -> None:
    row = next(r for r in _rows() if "/heatmap.png" in r.split("|")[1])
    named = {name for _, name in _claims(row)}
    operation = next(
        ops["get"] for path, ops in schema["paths"].items() if path.endswith("/heatmap.png")
    )
    query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert query <= named, f"the API takes {query - named}, which the README does not name"
    unknown = named - _known(schema, "GET", "/v1/explanations/{}/heatmap.png")
    assert unknown == set(), f"the README names {unknown}; the API takes {sorted(query)}"


def test_every_parameter_the_api_table_names_exists(schema: dict[str, Any]) -> None:
    unknown = []
    claims = 0
    for row in _rows():
        for routes, name in _claims(row):
            claims += 1
            if routes and not any(name in _known(schema, m, p) for m, p in routes):
                unknown.append(f"{name} ({', '.join(f'{m} {p}' for m, p in routes)})")
    assert claims > 30, "the table was read"
    assert unknown == []
