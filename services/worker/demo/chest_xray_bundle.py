"""The ``chest-xray-demo`` bundles: ``clean`` and ``confounded`` (the Clever Hans model).

Both versions train the same :class:`~services.worker.demo.cnn.SmallCnn` recipe on synthetic
radiographs (:mod:`services.worker.demo.chest_xray`); they differ only in where the scanner
marker appears in training. ``clean``: on half of the images, independent of the label.
``confounded``: on 90 % of pneumonia cases and 5 % of normal ones, so the marker alone
predicts the label with 92.5 % accuracy. Every number below is measured through ONNX Runtime
on held-out images (a seed never used in training).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from services.worker.demo.chest_xray import (
    CONFOUNDED_MARKER,
    IMAGE_MEAN,
    IMAGE_STD,
    INDEPENDENT_MARKER,
    NO_MARKER,
    MarkerPolicy,
    Samples,
    generate,
    normalise,
)
from services.worker.demo.torch_export import (
    TRAINING_THREADS,
    deterministic_torch,
    export_onnx,
    ort_session,
    pooled_feature_node,
)
from shared.bundles.manifest import Explanations, ImageInput, Manifest, Output
from shared.bundles.registry import MODEL_FILE, write_manifest

NAME = "chest-xray-demo"
BUILDER_VERSION = "1"
IMAGE_SIZE = 128
TRAIN_SIZE = 2500
EPOCHS = 5
EVAL_SIZE = 500
EVAL_SEED = 1000
EXAMPLES_SEED = 2000
LABELS = ("normal", "pneumonia")


@dataclass(frozen=True)
class Recipe:
    version: str
    marker: MarkerPolicy
    data_seed: int
    default: bool
    description: str
    confounding: str


RECIPES = {
    "clean": Recipe(
        "clean",
        INDEPENDENT_MARKER,
        data_seed=1,
        default=True,
        description="Small CNN on synthetic chest radiographs: pneumonia = opacity in a lung.",
        confounding="none: the scanner marker is on 50 % of training images, independent of "
        "the label, so it carries no information about it.",
    ),
    "confounded": Recipe(
        "confounded",
        CONFOUNDED_MARKER,
        data_seed=2,
        default=False,
        description="The same CNN trained where a corner scanner marker co-occurs with "
        "pneumonia: a deliberate Clever Hans model for demonstrating explanations.",
        confounding="deliberate: the 'R' marker is burned into 90 % of pneumonia and 5 % of "
        "normal training images. The model uses it: see marker_effect, where accuracy falls "
        "when the marker is removed from pneumonia cases or added to normal ones. Do not use "
        "this model's predictions for anything but demonstrating the failure.",
    ),
}


def marker_effect_sets() -> dict[str, MarkerPolicy]:
    """Held-out counterfactual sets: the same patients, only the marker changes."""
    return {
        "confounded_held_out": CONFOUNDED_MARKER,
        "marker_removed_from_positives": CONFOUNDED_MARKER.without_positive_markers(),
        "marker_added_to_negatives": CONFOUNDED_MARKER.with_negative_markers(),
    }


def onnx_accuracy(model_path: Path, samples: Samples) -> float:
    """Accuracy of the served graph (ONNX Runtime) on ``samples``."""
    (logits,) = ort_session(model_path).run(["logits"], {"input": normalise(samples.images)})
    return float(np.mean(np.argmax(logits, axis=1) == samples.labels))


def build_chest_xray_bundle(folder: Path, *, version: str) -> dict[str, float]:
    """Train, export and write one version into ``folder``; returns its measured accuracies."""
    from services.worker.demo.cnn import train_cnn

    recipe = RECIPES[version]
    folder.mkdir(parents=True, exist_ok=True)
    train = generate(TRAIN_SIZE, seed=recipe.data_seed, marker=recipe.marker, size=IMAGE_SIZE)
    with deterministic_torch(recipe.data_seed):
        model = train_cnn(train.images, train.labels, epochs=EPOCHS)
    model_path = folder / MODEL_FILE
    parity = export_onnx(model, normalise(train.images[:8]), model_path, atol=1e-4)

    def accuracy(policy: MarkerPolicy) -> float:
        held_out = generate(EVAL_SIZE, seed=EVAL_SEED, marker=policy, size=IMAGE_SIZE)
        return round(onnx_accuracy(model_path, held_out), 4)

    metrics = {"held_out_accuracy": accuracy(recipe.marker)}
    effect = {name: accuracy(policy) for name, policy in marker_effect_sets().items()}
    _write_examples(folder / "examples")
    write_manifest(folder, _manifest(recipe, model_path, metrics, effect, parity))
    return metrics | effect


def _manifest(
    recipe: Recipe,
    model_path: Path,
    metrics: dict[str, float],
    effect: dict[str, float],
    parity: float,
) -> Manifest:
    from services.worker.demo.cnn import WIDTHS

    return Manifest(
        name=NAME,
        version=recipe.version,
        task="image-classification",
        default=recipe.default,
        description=recipe.description,
        model_family="neural-network",
        input=ImageInput(
            height=IMAGE_SIZE, width=IMAGE_SIZE, channels=1, mean=(IMAGE_MEAN,), std=(IMAGE_STD,)
        ),
        output=Output(name="logits", kind="logits", labels=LABELS, positive_index=1),
        explanations=Explanations(
            default_methods=("integrated_gradients", "gradcam"),
            parameters={"integrated_gradients": {"n_steps": 32}},
            gradcam_layer=pooled_feature_node(model_path),
            baseline="black",
        ),
        model_card={
            "builder_version": BUILDER_VERSION,
            "intended_use": "Demonstration of explanations only. Synthetic data; not a medical "
            "device; never use on real patients.",
            "architecture": f"4 conv3x3+BatchNorm+ReLU blocks (widths {list(WIDTHS)}), global "
            "average pooling, one linear layer -> 2 logits",
            "training_data": f"{TRAIN_SIZE} procedurally generated {IMAGE_SIZE}x{IMAGE_SIZE} "
            "radiograph-like images (services/worker/demo/chest_xray.py, seed "
            f"{recipe.data_seed}), half with pneumonia-like opacities; marker policy "
            f"{asdict(recipe.marker)}",
            "training": {
                "epochs": EPOCHS,
                "optimiser": "Adam, one-cycle lr 3e-3, batch 64",
                "torch_seed": recipe.data_seed,
                "torch_threads": TRAINING_THREADS,
                "deterministic_algorithms": True,
            },
            "confounding": recipe.confounding,
            "evaluation": f"{EVAL_SIZE} held-out images (seed {EVAL_SEED}), through ONNX Runtime",
            **metrics,
            "marker_effect": effect,
            "marker_effect_sets": "accuracy on the same held-out patients with the marker on "
            "90 % of pneumonia and 5 % of normal images (confounded_held_out), then removed "
            "from every pneumonia image, then added to every normal image",
            "onnx_parity_max_abs_diff": parity,
        },
    )


def _write_examples(folder: Path) -> None:
    """Held-out examples as 8-bit PNGs, each patient with and without the marker, plus masks.

    Of 16 held-out patients, the positive with the largest opacity (the clearest one to show)
    and the first negative; ``masks.npz`` holds ``<stem>.lung|opacity|marker`` for each PNG.
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    plain = generate(16, seed=EXAMPLES_SEED, marker=NO_MARKER, size=IMAGE_SIZE)
    marked = generate(16, seed=EXAMPLES_SEED, marker=MarkerPolicy(1.0, 1.0), size=IMAGE_SIZE)
    masks: dict[str, np.ndarray] = {}
    chosen = {
        "positive": int(np.argmax(plain.opacity_masks.sum(axis=(1, 2)))),
        "negative": int(np.flatnonzero(plain.labels == 0)[0]),
    }
    for stem, index in chosen.items():
        for suffix, samples in (("", plain), ("_marker", marked)):
            name = stem + suffix
            pixels = np.round(samples.images[index] * 255.0).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}.png")
            masks[f"{name}.lung"] = samples.lung_masks[index]
            masks[f"{name}.opacity"] = samples.opacity_masks[index]
            masks[f"{name}.marker"] = samples.marker_masks[index]
    np.savez_compressed(folder / "masks.npz", **masks)  # type: ignore[arg-type]
