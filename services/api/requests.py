"""Parsing ``POST /v1/predictions`` bodies (multipart image or JSON tabular) into one request."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from services.api.predictions import PredictionRequest
from services.api.schemas import TabularPredictionBody
from shared.bundles.manifest import ImageInput, TabularInput
from shared.bundles.registry import Registry
from shared.preprocess.errors import InputError, UnsupportedInput
from shared.preprocess.image import prepare_image
from shared.preprocess.tabular import prepare_tabular

MAX_FORM_FIELDS = 32


async def parse_prediction_request(
    request: Request, *, registry: Registry, max_pixels: int, idempotency_key: str | None
) -> PredictionRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _from_multipart(request, registry, max_pixels, idempotency_key)
    if content_type == "application/json":
        return _from_json(await request.body(), registry, idempotency_key)
    raise UnsupportedInput(
        "send multipart/form-data (image file) or application/json (tabular features)"
    )


def _from_json(body: bytes, registry: Registry, key: str | None) -> PredictionRequest:
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError.field("body", f"invalid JSON: {str(exc)[:200]}") from None
    try:
        parsed = TabularPredictionBody.model_validate(payload)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "reason": e["msg"]}
            for e in exc.errors()
        ]
        raise InputError(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors
        ) from None
    bundle = registry.get(parsed.model, parsed.version)
    spec = bundle.manifest.input
    if not isinstance(spec, TabularInput):
        raise InputError.field("model", f"{bundle.name} takes an image: send multipart/form-data")
    return PredictionRequest(
        bundle=bundle,
        prepared=prepare_tabular(parsed.features, spec),
        methods=parsed.methods,
        case_ref=parsed.case_ref,
        idempotency_key=key,
    )


async def _from_multipart(
    request: Request, registry: Registry, max_pixels: int, key: str | None
) -> PredictionRequest:
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except MultiPartException as exc:
        raise InputError.field("body", f"malformed multipart body: {exc.message}") from None
    try:
        fields = _text_fields(form.multi_items())
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError.field("file", "missing: upload the image as the 'file' field")
        data = await upload.read()
    finally:
        await form.close()
    model = _single(fields, "model", required=True)
    assert model is not None
    bundle = registry.get(model, _single(fields, "version", required=False))
    spec = bundle.manifest.input
    if not isinstance(spec, ImageInput):
        raise InputError.field("model", f"{bundle.name} is tabular: send application/json")
    methods = [m for value in fields.get("methods", []) for m in value.split(",") if m.strip()]
    return PredictionRequest(
        bundle=bundle,
        prepared=prepare_image(data, spec, max_pixels=max_pixels),
        methods=[m.strip() for m in methods] if "methods" in fields else None,
        case_ref=_single(fields, "case_ref", required=False),
        idempotency_key=key,
    )


_KNOWN_FIELDS = {"file", "model", "version", "methods", "case_ref"}


def _text_fields(items: list[tuple[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in items:
        if name not in _KNOWN_FIELDS:
            raise InputError.field(name, "unknown form field")
        if name != "file":
            if not isinstance(value, str):
                raise InputError.field(name, "must be a text field, not a file")
            fields.setdefault(name, []).append(value)
    return fields


def _single(fields: dict[str, list[str]], name: str, *, required: bool) -> str | None:
    values = fields.get(name, [])
    if len(values) > 1:
        raise InputError.field(name, "given more than once")
    if not values or not values[0].strip():
        if required:
            raise InputError.field(name, "missing")
        return None
    return values[0].strip()


def _reject_constant(token: str) -> None:
    raise ValueError(f"{token} is not a valid JSON number")
