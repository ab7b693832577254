"""Kernel SHAP (Lundberg & Lee 2017): declaration and parameters."""

from __future__ import annotations

from pydantic import Field

from shared.methods._background import LinkedParameters, logit_needs_probabilities
from shared.methods.quality import SAMPLED_SHAP_FIGURES
from shared.methods.spec import MethodSpec, tabular

MAX_SAMPLES = 1_000_000


class KernelShapParameters(LinkedParameters):
    nsamples: int = Field(
        2048, ge=1, le=MAX_SAMPLES, description="coalitions the served model is asked about"
    )


SPEC = MethodSpec(
    name="kernel_shap",
    label="Kernel SHAP",
    modality="tabular",
    summary="Kernel SHAP on the served model (Lundberg 2017)",
    plain="Estimates each feature's push on the model's output by asking the served model about "
    "many mixtures of this case with reference cases and fitting a weighted linear model to "
    "the answers. The pushes add up to the difference between the output for this case and "
    "the average output (the additivity check below); being sampled, they are estimates.",
    limitations="Sampled: the values are estimates that vary with the seed, and features are "
    "treated as independent of each other when mixed with the reference cases.",
    parameters=KernelShapParameters,
    supports=tabular,
    quality=SAMPLED_SHAP_FIGURES,
    bundle_check=logit_needs_probabilities,
)
