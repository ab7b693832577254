"""Every bad input gets its 4xx as problem+json naming the field or reason, and leaves nothing
behind: no row in any table, no message on the queue."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.settings import Settings
from tests.integration.hostile.corpus import CAP, MAX_PIXELS, image, raw_json, tabular
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.live import Footprint


@pytest.fixture(scope="module")
def client(pg_settings: Settings, clinician: dict[str, str]) -> Iterator[TestClient]:
    settings = pg_settings.model_copy(
        update={"max_body_bytes": CAP, "max_image_pixels": MAX_PIXELS}
    )
    with TestClient(
        create_app(settings), raise_server_exceptions=False, headers=clinician
    ) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def footprint(pg_settings: Settings) -> Iterator[Footprint]:
    measure = Footprint(pg_settings)
    yield measure
    measure.close()


CASES: dict[str, tuple[Callable[[], dict[str, Any]], int, str]] = {
    # name: (request kwargs, status, field or reason that the problem must name)
    "body over the cap": (lambda: image(b"\x89PNG\r\n\x1a\n" + b"0" * (10 * CAP)), 413, "limit"),
    "text/plain": (
        lambda: {"content": b"hello", "headers": {"content-type": "text/plain"}},
        415,
        "multipart",
    ),
    "no content type": (lambda: {"content": b"{}"}, 415, "multipart"),
    "TIFF renamed": (lambda: image(inputs.other_format("TIFF")), 415, "PNG, JPEG or DICOM"),
    "GIF renamed": (lambda: image(inputs.other_format("GIF")), 415, "PNG, JPEG or DICOM"),
    "zero-byte file": (lambda: image(b""), 422, "file"),
    "truncated PNG": (lambda: image(inputs.gray_png()[:120]), 422, "file"),
    "truncated JPEG": (lambda: image(inputs.jpeg()[:200]), 422, "file"),
    "decompression bomb": (lambda: image(inputs.png_bomb(4000)), 422, "file"),
    "DICOM without pixels": (lambda: image(inputs.dicom_variant(drop_pixels=True)), 422, "file"),
    "DICOM absurd rows": (lambda: image(inputs.dicom_variant(rows=60000)), 422, "file"),
    "DICOM preamble only": (lambda: image(b"\0" * 128 + b"DICM" + b"\x02\x00"), 422, "file"),
    "missing file": (
        lambda: {"data": {"model": "tiny-cnn"}, "files": {"x": ("a", b"1")}},
        422,
        "x",
    ),
    "unknown form field": (lambda: image(inputs.gray_png(), colour="red"), 422, "colour"),
    "image to tabular model": (
        lambda: {**image(inputs.gray_png()), "data": {"model": "tiny-gbt"}},
        422,
        "model",
    ),
    "unknown model": (lambda: image(inputs.gray_png(), model="nope"), 404, "model"),
    "unknown version": (lambda: image(inputs.gray_png(), version="v9"), 404, "model"),
    "unsupported method": (lambda: image(inputs.gray_png(), methods="tree_shap"), 422, "methods"),
    "missing feature": (
        lambda: {
            "json": {
                "model": "tiny-gbt",
                "features": {k: v for k, v in breast_cancer_case(3).items() if k != "mean radius"},
            }
        },
        422,
        "features.mean radius",
    ),
    "unknown feature": (lambda: tabular(shoe_size=42.0), 422, "features.shoe_size"),
    "non-numeric feature": (lambda: tabular(**{"mean area": "large"}), 422, "features.mean area"),
    "boolean feature": (lambda: tabular(**{"mean area": True}), 422, "features.mean area"),
    "NaN token": (
        lambda: raw_json(json.dumps(tabular(**{"mean area": float("nan")})["json"])),
        422,
        "body",
    ),
    "Infinity token": (
        lambda: raw_json(json.dumps(tabular(**{"mean area": float("inf")})["json"])),
        422,
        "body",
    ),
    "out of range": (lambda: tabular(**{"mean radius": -3.0}), 422, "features.mean radius"),
    "features not an object": (
        lambda: {"json": {"model": "tiny-gbt", "features": [1, 2]}},
        422,
        "features",
    ),
    "unknown top-level key": (lambda: {"json": {**tabular()["json"], "extra": 1}}, 422, "extra"),
    "invalid JSON": (lambda: raw_json('{"model": '), 422, "body"),
    "deeply nested JSON": (lambda: raw_json("[" * 100_000 + "]" * 100_000), 422, "body"),
    "tabular to image model": (
        lambda: {"json": {"model": "tiny-cnn", "features": {}}},
        422,
        "model",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_its_4xx_and_leaves_nothing(
    client: TestClient, footprint: Footprint, case: str
) -> None:
    make, status, named = CASES[case]
    before = footprint()
    response = client.post("/v1/predictions", **make())
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["title"]
    fields = [e["field"] for e in problem.get("errors", [])]
    assert named in fields or named in problem["detail"], problem
    assert footprint() == before
