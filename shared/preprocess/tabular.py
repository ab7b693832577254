"""Validate a tabular case against the manifest's feature specification."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from shared.bundles.manifest import TabularInput
from shared.errors import FieldError
from shared.hashing import canonical_json
from shared.preprocess.errors import InputError
from shared.preprocess.prepared import PreparedInput


def prepare_tabular(features: Any, spec: TabularInput) -> PreparedInput:
    """Every problem is reported at once, each naming its field (``features.<name>``)."""
    if not isinstance(features, dict):
        raise InputError.field("features", "must be an object of feature name -> number")
    errors: list[FieldError] = []
    known = {f.name for f in spec.features}
    for name in features:
        if name not in known:
            errors.append(FieldError(field=f"features.{name}", reason="unknown feature"))
    row: list[float] = []
    for feature in spec.features:
        field = f"features.{feature.name}"
        value = features.get(feature.name)
        reason = _check(value, feature.name in features, feature.minimum, feature.maximum)
        if reason:
            errors.append(FieldError(field=field, reason=reason))
        else:
            row.append(float(value))  # type: ignore[arg-type]  # _check found a number
    if errors:
        raise InputError.of(errors)
    ordered = {f.name: float(features[f.name]) for f in spec.features}
    return PreparedInput(
        kind="tabular",
        media_type="application/json",
        raw=canonical_json(ordered),
        tensor=np.asarray([row], dtype=np.float32),
        steps={"features": [f.name for f in spec.features], "dtype": "float32"},
    )


def _check(value: Any, present: bool, minimum: float, maximum: float) -> str | None:
    if not present or value is None:
        return "missing"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {json.dumps(value)[:40]}"
    try:
        number = float(value)  # an int past ~1.8e308 has no float: OverflowError
    except OverflowError:
        return "must be finite (too large for a 64-bit float)"
    if not math.isfinite(number):
        return "must be finite"
    if not minimum <= number <= maximum:
        return f"{value} is outside the valid range [{minimum:g}, {maximum:g}]"
    return None
