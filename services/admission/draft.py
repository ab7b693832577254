"""A manifest drafted from the graph's facts plus flags for what the graph cannot say.

The graph says the layout, the size (when fixed), the number of classes, the head (and with
it the output's mode, :mod:`.outputs`) and the Grad-CAM layer; the flags say the labels (unless a
converter wrote them into the graph), the normalisation, a dynamic image size, the feature names
and valid ranges, a multi-label model's thresholds, a regression's unit and reference range, and
``--task`` where the head is ambiguous. A flag that contradicts the graph is refused, naming both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.admission.errors import AdmissionError
from services.admission.inspect import GraphFacts
from services.admission.outputs import MODES, draft_output
from shared.bundles.manifest import (
    Explanations,
    Feature,
    ImageInput,
    Manifest,
    OutputMode,
    TabularInput,
)

Task = Literal["image-classification", "tabular-classification"]
TaskFlag = Task | OutputMode
"""``--task``: the manifest's task (checked against the input layout) or the output's mode."""
_TASK_OF_LAYOUT: dict[str, Task] = {
    "NCHW": "image-classification",
    "tabular": "tabular-classification",
}


class DraftFlags(BaseModel):
    """What the person admitting the model says about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    labels: tuple[str, ...] | None = None
    task: TaskFlag | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    image_size: tuple[int, int] | None = None
    features: tuple[Feature, ...] | None = None
    background_file: str | None = None
    positive_label: str | None = None
    thresholds: tuple[float, ...] | None = None
    unit: str | None = None
    reference_range: tuple[float, float] | None = None
    description: str = ""
    model_card: dict[str, object] = Field(default_factory=dict)


def draft_manifest(facts: GraphFacts, flags: DraftFlags) -> Manifest:
    task = _TASK_OF_LAYOUT[facts.layout]
    mode = flags.task if flags.task in MODES else None
    if flags.task is not None and mode is None and flags.task != task:
        raise AdmissionError(
            "draft",
            f"--task {flags.task} but the input {list(facts.input.shape or ())} is {facts.layout}",
            where=facts.input.name,
        )
    output, read_as = draft_output(
        facts,
        asked=mode,
        labels=flags.labels,
        positive_label=flags.positive_label,
        thresholds=flags.thresholds,
        unit=flags.unit,
        reference_range=flags.reference_range,
    )
    if task == "image-classification":
        spec: ImageInput | TabularInput = _image(facts, flags)
        methods = (
            ("integrated_gradients", "gradcam")
            if facts.gradcam_layer
            else ("integrated_gradients",)
        )
        family: Literal["neural-network", "tree-ensemble"] = "neural-network"
    else:
        spec = _tabular(facts, flags)
        family = "tree-ensemble" if facts.tree_ensemble else "neural-network"
        methods = ("tree_shap",) if facts.tree_ensemble else ("kernel_shap",)
    notes = [*facts.notes, read_as]
    if task == "image-classification" and flags.mean is None and flags.std is None:
        notes.append("no --mean/--std given: images are fed in [0, 1], not normalised")
    card = {
        "admitted_by": "xai models add",
        "onnx_producer": facts.producer,
        "opsets": facts.opsets,
        "inspection_notes": notes,
        **flags.model_card,
    }
    try:
        return Manifest(
            name=flags.name,
            version=flags.version,
            task=task,
            description=flags.description,
            model_family=family,
            input_name=facts.input.name,
            input=spec,
            output=output,
            explanations=Explanations(
                default_methods=methods,
                gradcam_layer=facts.gradcam_layer if task == "image-classification" else None,
                background_file=flags.background_file,
            ),
            model_card=card,
        )
    except ValueError as exc:
        raise AdmissionError("draft", str(exc), where="manifest") from None


def _image(facts: GraphFacts, flags: DraftFlags) -> ImageInput:
    where = facts.input.name
    channels = facts.channels
    if channels != 1 and channels != 3:
        raise AdmissionError("draft", "the image input needs 1 or 3 fixed channels", where=where)
    size = (facts.height, facts.width) if facts.height and facts.width else None
    if size is None:
        if flags.image_size is None:
            raise AdmissionError(
                "draft",
                f"input shape {list(facts.input.shape or ())} has a dynamic height/width; "
                "declare the size the model takes with --input-size H,W",
                where=where,
            )
        size = flags.image_size
    elif flags.image_size is not None and flags.image_size != size:
        raise AdmissionError(
            "draft", f"--input-size {flags.image_size} but the graph fixes {size}", where=where
        )
    mean = _per_channel(flags.mean, channels, "mean", 0.0)
    std = _per_channel(flags.std, channels, "std", 1.0)
    return ImageInput(
        height=size[0], width=size[1], channels=1 if channels == 1 else 3, mean=mean, std=std
    )


def _per_channel(
    values: tuple[float, ...] | None, channels: int, name: str, default: float
) -> tuple[float, ...]:
    if values is None:
        return (default,) * channels
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise AdmissionError("draft", f"--{name} needs 1 or {channels} values", where=name)
    return values


def _tabular(facts: GraphFacts, flags: DraftFlags) -> TabularInput:
    if flags.features is None:
        raise AdmissionError(
            "draft",
            "a tabular model needs its features: pass --background rows (names from a CSV "
            "header, ranges from the rows) or --features-file",
            where=facts.input.name,
        )
    if facts.n_features is not None and len(flags.features) != facts.n_features:
        raise AdmissionError(
            "draft",
            f"{len(flags.features)} features given but input {facts.input.name!r} takes "
            f"{facts.n_features}",
            where=facts.input.name,
        )
    return TabularInput(features=flags.features)
