"""The one interface every explainer implements and the one result type all of them return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np

from shared.bundles.manifest import Manifest
from shared.methods import METHODS, MethodParameters

if TYPE_CHECKING:  # heavy imports stay out of module import time
    import onnxruntime
    import torch

    from shared.bundles.registry import Bundle


class ExplainerError(Exception):
    """An expected failure: the job ends ``failed`` with this message as its reason."""


@dataclass
class LoadedModel:
    """What an explainer works on: the served bundle, its ORT session and its torch twin.

    ``twin`` is the differentiable module converted from the same ``model.onnx`` bytes
    (see :mod:`services.worker.twin`); it is ``None`` for models that have none (tree
    ensembles). ``twin`` returns the same tensor as the manifest's score output.
    """

    bundle: Bundle
    session: onnxruntime.InferenceSession
    twin: torch.nn.Module | None
    device: str = "cpu"

    @property
    def manifest(self) -> Manifest:
        return self.bundle.manifest

    def scores(self, x: np.ndarray) -> np.ndarray:
        """The served model's score output (``[n, n_classes]``) for a float32 batch."""
        output = self.manifest.output.name
        (result,) = self.session.run([output], {self.manifest.input_name: x.astype(np.float32)})
        return np.asarray(result, dtype=np.float64)


@dataclass
class Attribution:
    """One explanation of one decision.

    ``values`` has the input's shape without the batch axis (``[C, H, W]`` for images,
    ``[n_features]`` for tabular models). ``baseline`` is the reference the attributions
    are measured from: the baseline input for path methods, the expected value for SHAP.
    ``quality`` holds figures such as ``completeness_delta`` or ``additivity_error``.
    ``parameters`` are the parameters as used and archived (JSON values; a path method's
    ``n_steps`` after any doubling, SmoothGrad's noise level in input units).
    """

    method: str
    values: np.ndarray
    target: int
    parameters: dict[str, Any]
    model_sha256: str
    seed: int | None = None
    baseline: Any = None
    quality: dict[str, float] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)


class CatalogueExplainer:
    """Support follows the method catalogue (:mod:`shared.methods`), shared with the API."""

    name: ClassVar[str]

    def supports(self, manifest: Manifest) -> bool:
        return METHODS[self.name].supports(manifest)


P = TypeVar("P", bound=MethodParameters, contravariant=True)


class Explainer(Protocol[P]):
    """An explainer of one method; it takes that method's validated parameter model
    (:attr:`shared.methods.MethodSpec.parameters`, resolved with ``MethodSpec.resolve``)."""

    name: ClassVar[str]

    def supports(self, manifest: Manifest) -> bool: ...

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: P,
        seed: int,
    ) -> Attribution:
        """Explain the score of class ``target`` for the single input ``x`` (``[1, ...]``)."""
        ...
