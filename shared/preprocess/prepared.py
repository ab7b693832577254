"""The one result of preprocessing any input: what is stored, and what the model sees."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True)
class PreparedInput:
    kind: Literal["image", "tabular"]
    media_type: str
    raw: bytes
    tensor: np.ndarray
    steps: dict[str, Any]

    def tensor_npy(self) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, self.tensor, allow_pickle=False)
        return buffer.getvalue()
