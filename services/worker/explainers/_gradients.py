"""What the gradient explainers share: input checks and the result.

They all differentiate the torch twin of the served model (:mod:`services.worker.twin`) with
respect to one normalised image ``x`` of shape ``[1, C, H, W]`` and explain the twin's
output column ``target`` (the logit for logit models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from services.worker.explainers.base import (
    Attribution,
    CatalogueExplainer,
    ExplainerError,
    LoadedModel,
)
from shared.bundles.manifest import ImageInput
from shared.methods import MethodParameters
from shared.versions import package_versions

if TYPE_CHECKING:
    import torch


class GradientExplainer(CatalogueExplainer):
    """Base of the image explainers: the catalogue decides which bundles they support."""

    name: ClassVar[str]


def prepare(model: LoadedModel, x: np.ndarray, target: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """The twin and ``x`` as a float32 tensor on ``model.device`` that records gradients."""
    import torch

    spec = model.manifest.input
    if model.twin is None or not isinstance(spec, ImageInput):
        raise ExplainerError(f"{model.manifest.name} has no differentiable image model")
    expected = (1, spec.channels, spec.height, spec.width)
    if tuple(x.shape) != expected:
        raise ExplainerError(f"input has shape {tuple(x.shape)}, the model takes {expected}")
    n_classes = len(model.manifest.output.labels)
    if not 0 <= target < n_classes:
        raise ExplainerError(f"target {target} is not a class index below {n_classes}")
    inputs = torch.as_tensor(x, dtype=torch.float32, device=model.device)
    return model.twin, inputs.requires_grad_()


def takes_batches(twin: torch.nn.Module, inputs: torch.Tensor) -> bool:
    """Whether the twin runs on a batch of two; models exported with a fixed batch of one
    (a constant ``Reshape`` to ``[1, -1]``) do not, and are then explained one pass at a time.
    """
    import torch

    try:
        with torch.no_grad():
            twin(inputs.expand(2, *inputs.shape[1:]))
    except RuntimeError:
        return False
    return True


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ExplainerError(message)


def library_versions() -> dict[str, str]:
    return package_versions("torch", "captum", "onnx2torch", "numpy")


def attribution(
    *,
    method: str,
    model: LoadedModel,
    values: torch.Tensor,
    target: int,
    parameters: MethodParameters,
    seed: int,
    baseline: np.ndarray | None = None,
    quality: dict[str, float] | None = None,
) -> Attribution:
    """The result for ``values`` of shape ``[1, C, H, W]`` (stored as ``[C, H, W]`` float32)."""
    return Attribution(
        method=method,
        values=values.detach()[0].cpu().numpy().astype(np.float32),
        target=target,
        parameters=parameters.recorded(),
        model_sha256=model.bundle.sha256,
        seed=seed,
        baseline=baseline,
        quality=quality or {},
        library_versions=library_versions(),
    )
