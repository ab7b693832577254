"""The manifest of a model bundle: ``<bundles_dir>/<name>/<version>/manifest.json``.

A bundle is a folder with ``model.onnx`` and this manifest. The manifest says how to bring an
input to the model (image preprocessing or tabular feature specification), how to read the
model's output, and which explanations to compute by default. The bundle's identity is the
SHA-256 of ``model.onnx`` (see :mod:`shared.bundles.registry`), never a field of the manifest.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.methods.integrated_gradients import Baseline

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImageInput(_Strict):
    """An image model's input: ``[1, channels, height, width]`` float32 (NCHW).

    Preprocessing, in order: decode (PNG/JPEG/DICOM), convert to grayscale or RGB as
    ``channels`` says (alpha is composited over black), scale intensities to [0, 1] by the
    source bit depth (DICOM: modality LUT, then VOI LUT/window, then min-max), resize to
    ``height`` x ``width`` (bilinear), then ``(x - mean) / std`` per channel.
    """

    kind: Literal["image"] = "image"
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)
    channels: Literal[1, 3] = 1
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)

    @model_validator(mode="after")
    def _per_channel(self) -> ImageInput:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        if any(s <= 0 for s in self.std):
            raise ValueError("std must be positive")
        return self


class Feature(_Strict):
    """One named numeric feature of a tabular model, with its valid closed range."""

    name: str = Field(min_length=1, max_length=128)
    minimum: float
    maximum: float
    unit: str | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Feature:
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum)):
            raise ValueError("feature range must be finite")
        if self.minimum > self.maximum:
            raise ValueError("minimum is above maximum")
        return self


class TabularInput(_Strict):
    """A tabular model's input: ``[1, n_features]`` float32 in the order of ``features``."""

    kind: Literal["tabular"] = "tabular"
    features: tuple[Feature, ...] = Field(min_length=1)

    @field_validator("features")
    @classmethod
    def _unique(cls, features: tuple[Feature, ...]) -> tuple[Feature, ...]:
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        return features


OutputMode = Literal["single-label", "multi-label", "regression"]


class Output(_Strict):
    """How to read the model's output tensor ``[1, n]``: one column per label.

    ``mode`` says what the columns are:

    - ``single-label``: mutually exclusive classes (softmax, or logits it is applied to); the
      diagnosis is the top class, with the full distribution; at least two labels.
    - ``multi-label``: independent findings (sigmoid, or logits it is applied to); each
      finding is positive when its probability reaches its ``thresholds`` entry (0.5 unless
      given).
    - ``regression``: one value (``kind: value``), e.g. a risk score, in ``unit``, with an
      optional ``reference_range``; ``labels`` names it.
    """

    name: str = Field(description="ONNX output name holding the scores")
    kind: Literal["logits", "probabilities", "value"]
    labels: tuple[str, ...] = Field(min_length=1)
    positive_index: int = Field(
        default=1, ge=0, description="single-label: index of the class of interest"
    )
    mode: OutputMode = "single-label"
    thresholds: tuple[float, ...] | None = Field(
        default=None, description="multi-label: one per label, in (0, 1); 0.5 each if left out"
    )
    unit: str | None = Field(default=None, max_length=64, description="regression: the unit")
    reference_range: tuple[float, float] | None = Field(
        default=None, description="regression: [low, high] of the usual values"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Output:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.mode == "single-label":
            if len(self.labels) < 2:
                raise ValueError("single-label outputs need at least two labels")
            if self.positive_index >= len(self.labels):
                raise ValueError("positive_index is outside labels")
        if self.mode == "regression":
            if self.kind != "value" or len(self.labels) != 1:
                raise ValueError("a regression output is one value: kind value and one label")
            low_high = self.reference_range
            if low_high is not None and not (
                all(math.isfinite(v) for v in low_high) and low_high[0] <= low_high[1]
            ):
                raise ValueError("reference_range is [low, high], finite, low <= high")
        elif self.kind == "value":
            raise ValueError("kind value is for regression outputs")
        if self.thresholds is not None:
            if self.mode != "multi-label":
                raise ValueError("thresholds are for multi-label outputs")
            if len(self.thresholds) != len(self.labels):
                raise ValueError("thresholds need one value per label")
            if not all(0.0 < t < 1.0 for t in self.thresholds):
                raise ValueError("thresholds must lie strictly between 0 and 1")
        if self.mode != "regression" and (self.unit is not None or self.reference_range):
            raise ValueError("unit and reference_range are for regression outputs")
        return self

    def threshold(self, index: int) -> float:
        return self.thresholds[index] if self.thresholds is not None else 0.5


class Explanations(_Strict):
    """Default explanation methods and their parameters.

    ``parameters`` maps a method to its parameters' values; each method's parameter model
    (:mod:`shared.methods`) checks them when the bundle is loaded
    (:func:`shared.bundles.registry.load_bundle`).
    """

    default_methods: tuple[str, ...] = ()
    parameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="method -> parameter name -> value (see /v1/methods)"
    )
    gradcam_layer: str | None = Field(
        default=None, description="ONNX node name of the Grad-CAM target layer"
    )
    baseline: Baseline = Field(
        default="black",
        description="the default baseline of Integrated Gradients, SmoothGrad and superpixel SHAP",
    )
    background_file: str | None = Field(
        default=None, description="tabular: .npy of background rows for SHAP, in the bundle"
    )


class Manifest(_Strict):
    schema_version: Literal[1] = 1
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    version: Annotated[str, Field(pattern=NAME_PATTERN)]
    task: Literal["image-classification", "tabular-classification"]
    default: bool = Field(default=False, description="the version served when none is named")
    description: str = ""
    model_family: Literal["neural-network", "tree-ensemble"] = "neural-network"
    input_name: str = "input"
    input: Annotated[ImageInput | TabularInput, Field(discriminator="kind")]
    output: Output
    explanations: Explanations = Explanations()
    model_card: dict[str, Any] = Field(
        default_factory=dict, description="free-form: intended use, training data, metrics"
    )

    @model_validator(mode="after")
    def _task_matches_input(self) -> Manifest:
        expected = "image" if self.task == "image-classification" else "tabular"
        if self.input.kind != expected:
            raise ValueError(f"task {self.task} needs an {expected} input spec")
        return self
