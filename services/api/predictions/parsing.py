"""Parsing ``POST /v1/predictions`` bodies (multipart image or JSON tabular) into one request.

Reading the body is asynchronous; decoding it (JSON parsing, image decompression, DICOM) is
CPU work and runs in the threadpool, so a large upload never stalls the event loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from services.api.core.limits import DecodeBudget
from services.api.methods.schemas import ParameterOverrides
from services.api.predictions.schemas import TabularPredictionBody
from services.api.predictions.service import PredictionRequest
from shared.bundles.manifest import ImageInput, TabularInput
from shared.bundles.registry import Registry
from shared.errors import FieldError
from shared.preprocess.errors import InputError, UnsupportedInput
from shared.preprocess.image import prepare_image
from shared.preprocess.tabular import prepare_tabular

MAX_FORM_FIELDS = 32
_KNOWN_FIELDS = {"file", "model", "version", "methods", "parameters", "targets", "case_ref"}
_OVERRIDES: TypeAdapter[dict[str, dict[str, Any]]] = TypeAdapter(ParameterOverrides)
_FormOptions: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "FormOptions",
    __config__=ConfigDict(extra="forbid"),
    **{  # the JSON body's declarations, so that a form field has exactly the same bounds
        name: (info.annotation, info)
        for name, info in TabularPredictionBody.model_fields.items()
        if name in ("model", "version", "methods", "targets", "case_ref")
    },
)


@dataclass(frozen=True)
class _Form:
    fields: dict[str, list[str]]
    data: bytes


async def parse_prediction_request(
    request: Request, *, registry: Registry, max_pixels: int, idempotency_key: str | None
) -> PredictionRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await _read_form(request)
        budget = DecodeBudget.of(request.app)
        return await run_in_threadpool(
            _from_form, form, registry, max_pixels, idempotency_key, budget
        )
    if content_type == "application/json":
        body = await request.body()
        return await run_in_threadpool(_from_json, body, registry, idempotency_key)
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
        raise InputError.of(_field_errors(exc)) from None
    bundle = registry.get(parsed.model, parsed.version)
    spec = bundle.manifest.input
    if not isinstance(spec, TabularInput):
        raise InputError.field("model", f"{bundle.name} takes an image: send multipart/form-data")
    return PredictionRequest(
        bundle=bundle,
        prepared=prepare_tabular(parsed.features, spec),
        methods=parsed.methods,
        parameters=parsed.parameters or {},
        targets=tuple(parsed.targets) if parsed.targets is not None else None,
        case_ref=parsed.case_ref,
        idempotency_key=key,
    )


async def _read_form(request: Request) -> _Form:
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except (MultiPartException, HTTPException) as exc:  # Starlette re-raises as HTTP 400
        reason = exc.message if isinstance(exc, MultiPartException) else str(exc.detail)
        raise InputError.field("body", f"malformed multipart body: {reason}") from None
    try:
        fields = _text_fields(form.multi_items())
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError.field("file", "missing: upload the image as the 'file' field")
        return _Form(fields=fields, data=await upload.read())
    finally:
        await form.close()


def _from_form(
    form: _Form, registry: Registry, max_pixels: int, key: str | None, budget: DecodeBudget
) -> PredictionRequest:
    options = _form_options(form.fields)
    bundle = registry.get(options.model, options.version)
    spec = bundle.manifest.input
    if not isinstance(spec, ImageInput):
        raise InputError.field("model", f"{bundle.name} is tabular: send application/json")
    with budget.share():
        prepared = prepare_image(form.data, spec, max_pixels=max_pixels)
    return PredictionRequest(
        bundle=bundle,
        prepared=prepared,
        methods=options.methods,
        parameters=_form_parameters(_single(form.fields, "parameters", required=False)),
        targets=tuple(options.targets) if options.targets is not None else None,
        case_ref=options.case_ref,
        idempotency_key=key,
    )


def _form_options(fields: dict[str, list[str]]) -> Any:
    """The text fields, validated with the JSON body's bounds (``methods`` split at commas;
    given but naming no method, it is refused like an empty JSON list)."""
    values: dict[str, Any] = {
        name: _single(fields, name, required=name == "model")
        for name in ("model", "version", "case_ref")
    }
    if "methods" in fields:
        values["methods"] = [
            m.strip() for value in fields["methods"] for m in value.split(",") if m.strip()
        ]
    if "targets" in fields:  # one label per field: labels may hold commas
        values["targets"] = fields["targets"]
    try:
        return _FormOptions.model_validate(values)
    except ValidationError as exc:
        raise InputError.of(_field_errors(exc)) from None


def _form_parameters(text: str | None) -> dict[str, dict[str, Any]]:
    """The ``parameters`` form field: a JSON object ``{method: {name: value}}``."""
    if text is None:
        return {}
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InputError.field("parameters", f"invalid JSON: {str(exc)[:200]}") from None
    try:
        return _OVERRIDES.validate_python(value)
    except ValidationError as exc:
        raise InputError.of(_field_errors(exc, "parameters")) from None


def _field_errors(exc: ValidationError, *prefix: str) -> list[FieldError]:
    return [
        FieldError(field=".".join([*prefix, *map(str, e["loc"])]) or "body", reason=e["msg"])
        for e in exc.errors()
    ]


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
