"""Bringing inputs to a model: deterministic, recorded, and reproducible from the stored input.

Workers (and replays) re-derive the model input from the archived raw input and check it
against the SHA-256 recorded with the prediction, so the tensor need not be stored.
"""

from __future__ import annotations

import json

import numpy as np

from shared.bundles.manifest import ImageInput, Manifest, TabularInput
from shared.errors import Conflict
from shared.hashing import sha256_hex
from shared.preprocess.errors import InputError, UnsupportedInput
from shared.preprocess.prepared import PreparedInput


class NotReproducible(Conflict):
    """The stored input no longer yields the model input that the prediction recorded."""

    title = "Input no longer reproducible"


def prepare_stored(raw: bytes, manifest: Manifest, *, max_pixels: int) -> PreparedInput:
    """Prepare an archived raw input (image bytes, or the canonical JSON of a tabular case)."""
    from shared.preprocess.image import prepare_image
    from shared.preprocess.tabular import prepare_tabular

    if isinstance(manifest.input, ImageInput):
        return prepare_image(raw, manifest.input, max_pixels=max_pixels)
    assert isinstance(manifest.input, TabularInput)
    return prepare_tabular(json.loads(raw), manifest.input)


def reproduce_tensor(
    raw: bytes, manifest: Manifest, *, expected_sha256: str, max_pixels: int
) -> np.ndarray:
    prepared = prepare_stored(raw, manifest, max_pixels=max_pixels)
    digest = sha256_hex(prepared.tensor_npy())
    if digest != expected_sha256:
        raise NotReproducible(
            f"preprocessing the stored input gives tensor {digest[:12]}…, the prediction "
            f"recorded {expected_sha256[:12]}… (preprocessing or libraries changed)"
        )
    return prepared.tensor


__all__ = [
    "InputError",
    "NotReproducible",
    "PreparedInput",
    "UnsupportedInput",
    "prepare_stored",
    "reproduce_tensor",
]
