"""Wire schemas of the model registry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ModelOut(BaseModel):
    name: str
    version: str
    sha256: str
    default: bool
    task: str
    methods: list[str]
    manifest: dict[str, Any]
