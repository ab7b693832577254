"""What the SHAP methods share: the background rows and the link."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.methods.spec import MethodParameters

MAX_BACKGROUND = 100_000


class BackgroundParameters(MethodParameters):
    max_background: int | None = Field(
        50,
        ge=1,
        le=MAX_BACKGROUND,
        description="reference rows: a seeded sample of the bundle's background rows of at most "
        "this many (null: all of them)",
    )


class LinkedParameters(BackgroundParameters):
    link: Literal["identity", "logit"] = Field(
        "identity",
        description="identity explains the served score; logit its log-odds (probability "
        "models only)",
    )
