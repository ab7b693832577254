"""SmoothGrad (Smilkov et al. 2017): declaration and parameters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.methods.integrated_gradients import PathParameters, baseline_of
from shared.methods.quality import GRADIENT_FIGURES
from shared.methods.spec import MethodSpec, image_network

NOISE_LEVEL = 0.15
"""The default noise, as a fraction of the input's range: the paper's 10-20 %."""
_PATH_FIELDS = frozenset(PathParameters.model_fields)


class SmoothGradParameters(PathParameters):
    """``abs`` applies to the saliency base; ``n_steps``, ``method``, ``internal_batch_size``
    and ``baseline`` to the Integrated Gradients base."""

    base: Literal["saliency", "integrated_gradients"] = Field(
        "saliency", description="the method averaged over noisy copies"
    )
    nt_samples: int = Field(16, ge=1, description="noisy copies")
    stdevs: float | None = Field(
        None,
        ge=0,
        description=f"noise standard deviation in input units; null: {NOISE_LEVEL} of the "
        "input's range",
    )
    abs: bool = Field(True, description="saliency base: the gradient's magnitude")

    def recorded(self) -> dict[str, Any]:
        """Only the parameters the chosen base uses."""
        dropped = {"abs"} if self.base == "integrated_gradients" else _PATH_FIELDS
        return self.model_dump(mode="json", exclude=set(dropped))


SPEC = MethodSpec(
    name="smoothgrad",
    label="SmoothGrad",
    modality="image",
    summary="SmoothGrad: noise-averaged saliency (Smilkov 2017)",
    plain="Averages the sensitivity map over many slightly noisy copies of the image, which "
    "removes the speckle of plain saliency and keeps the regions that matter consistently.",
    limitations="Sampled: the map depends on the noise level and the seed, and costs one "
    "gradient per noisy copy.",
    parameters=SmoothGradParameters,
    supports=image_network,
    quality=GRADIENT_FIGURES,
    bundle_defaults=baseline_of,
)
