"""What the SHAP methods share: the background rows and the link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from pydantic import Field

from shared.methods.spec import MethodParameters, ParameterProblem

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest

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


def logit_needs_probabilities(
    parameters: MethodParameters, manifest: Manifest
) -> list[ParameterProblem]:
    if (
        cast(LinkedParameters, parameters).link == "logit"
        and manifest.output.kind != "probabilities"
    ):
        return [ParameterProblem("link", "logit needs a model that serves probabilities")]
    return []
