"""Permutation SHAP (Štrumbelj & Kononenko 2014): declaration and parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from pydantic import Field

from shared.methods._background import LinkedParameters, logit_needs_probabilities
from shared.methods.quality import SAMPLED_SHAP_FIGURES
from shared.methods.spec import MethodParameters, MethodSpec, ParameterProblem, tabular

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest, TabularInput

MAX_EVALS = 10_000_000
DEFAULT_WALKS = 10


class PermutationShapParameters(LinkedParameters):
    max_evals: int | None = Field(
        None,
        ge=1,
        le=MAX_EVALS,
        description=f"masked evaluations, at least one walk (2 × features + 1); null: "
        f"{DEFAULT_WALKS} walks",
    )


def one_walk(manifest: Manifest) -> int:
    """The evaluations of one forward-and-back walk over the bundle's features."""
    return 2 * len(cast("TabularInput", manifest.input).features) + 1


def _at_least_one_walk(parameters: MethodParameters, manifest: Manifest) -> list[ParameterProblem]:
    problems = logit_needs_probabilities(parameters, manifest)
    max_evals = cast(PermutationShapParameters, parameters).max_evals
    if max_evals is not None and max_evals < one_walk(manifest):
        problems.append(ParameterProblem("max_evals", f"must be ≥ {one_walk(manifest)} (one walk)"))
    return problems


SPEC = MethodSpec(
    name="permutation_shap",
    label="Permutation SHAP",
    modality="tabular",
    summary="Permutation SHAP on the served model",
    plain="Estimates each feature's push on the model's output by switching this case's "
    "feature values in one at a time, in random orders, over reference cases, and averaging "
    "the change of the served model's output. The pushes add up to the difference between the "
    "output for this case and the average output (the additivity check below).",
    limitations="Sampled: the values are estimates that vary with the seed (exact only for "
    "models with at most pairwise interactions), and features are treated as independent.",
    parameters=PermutationShapParameters,
    supports=tabular,
    quality=SAMPLED_SHAP_FIGURES,
    bundle_check=_at_least_one_walk,
)
