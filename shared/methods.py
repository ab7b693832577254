"""The catalogue of explanation methods and which bundles each supports.

Pure declarations on the manifest, so the API can refuse an unsupported method at prediction
time (422) without importing the worker; the worker's explainers use the same rules. Each method
and each quality figure the explainers archive also has a reading in plain words, for the
people who review a decision (the per-decision report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.bundles.manifest import Manifest


@dataclass(frozen=True)
class MethodSpec:
    """``summary``: the method and its paper; ``plain``: what it shows, for a non-specialist."""

    name: str
    summary: str
    supports: Callable[[Manifest], bool]
    plain: str


def _image(m: Manifest) -> bool:
    return m.task == "image-classification" and m.model_family == "neural-network"


def _gradcam(m: Manifest) -> bool:
    return _image(m) and m.explanations.gradcam_layer is not None


def _tabular(m: Manifest) -> bool:
    return m.task == "tabular-classification"


def _trees(m: Manifest) -> bool:
    return _tabular(m) and m.model_family == "tree-ensemble"


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec(
            "integrated_gradients",
            "Integrated Gradients (Sundararajan 2017)",
            _image,
            plain="Fades the image in from a plain baseline image and adds up, pixel by pixel, "
            "how the model's score for the diagnosed class responds along the way. Highlighted "
            "pixels pushed the score towards the diagnosis. The contributions add up to the "
            "difference between the score on this image and on the baseline (the completeness "
            "check below).",
        ),
        MethodSpec(
            "gradcam",
            "Grad-CAM on the manifest's target layer (Selvaraju 2017)",
            _gradcam,
            plain="Shows which regions of the image the network's last feature layer relied on "
            "for the diagnosed class. It is coarse (one value per region of that layer, enlarged "
            "to the image): it shows where the model looked, not which exact pixels mattered.",
        ),
        MethodSpec(
            "saliency",
            "Gradient saliency (Simonyan 2013)",
            _image,
            plain="Shows how strongly the model's score for the diagnosed class reacts to a tiny "
            "change of each pixel. Quick but noisy; it shows sensitivity, not contribution.",
        ),
        MethodSpec(
            "smoothgrad",
            "SmoothGrad: noise-averaged saliency (Smilkov 2017)",
            _image,
            plain="Averages the sensitivity map over many slightly noisy copies of the image, "
            "which removes the speckle of plain saliency and keeps the regions that matter "
            "consistently.",
        ),
        MethodSpec(
            "tree_shap",
            "Exact TreeSHAP of the served tree ensemble (Lundberg 2020)",
            _trees,
            plain="Splits the model's output for this case exactly among the input features: "
            "starting from the model's average output over reference cases, each feature's value "
            "pushes the output up or down, and the pushes add up to the output for this case "
            "(the additivity check below). It reads the trees of the served model file, so the "
            "values are computed, not estimated.",
        ),
        MethodSpec(
            "kernel_shap",
            "Kernel SHAP on the served model (Lundberg 2017)",
            _tabular,
            plain="Estimates each feature's push on the model's output by asking the served "
            "model about many mixtures of this case with reference cases and fitting a weighted "
            "linear model to the answers. The pushes add up to the difference between the "
            "output for this case and the average output (the additivity check below); being "
            "sampled, they are estimates.",
        ),
        MethodSpec(
            "permutation_shap",
            "Permutation SHAP on the served model",
            _tabular,
            plain="Estimates each feature's push on the model's output by switching this case's "
            "feature values in one at a time, in random orders, over reference cases, and "
            "averaging the change of the served model's output. The pushes add up to the "
            "difference between the output for this case and the average output (the "
            "additivity check below).",
        ),
    )
}

QUALITY_READINGS: dict[str, str] = {
    "completeness_delta": "Completeness gap {value:.3g}: the pixel contributions add up to the "
    "change in the model's score between the baseline and this image, up to this amount "
    "(smaller is more faithful).",
    "completeness_delta_relative": "The completeness gap is {value:.2%} of that change in score.",
    "score": "The model's score for the explained class on this input: {value:.4g}.",
    "baseline_score": "The same score on the baseline image: {value:.4g}.",
    "additivity_error": "Additivity error {value:.3g}: the average output plus all feature "
    "contributions reproduces the model's output for this case up to this amount (0 is exact).",
    "additivity_error_served": "Checked against the served ONNX model's own output, the "
    "contributions add up to within {value:.3g}.",
    "served_parity_max_abs_diff": "The trees read from the model file reproduce the served "
    "model's output within {value:.3g}: the explanation is of the served model.",
    "parity_max_abs_diff": "Parity {value:.3g}: the PyTorch copy of the model that gradients "
    "are taken from agrees with the served ONNX model on this input within this amount "
    "(an explanation over the tolerance is refused, never archived).",
    "background_rows": "Contributions are measured against {value:.0f} reference cases.",
}


def quality_reading(name: str, value: object) -> str:
    """One archived quality figure in plain words (the bare figure for a name not catalogued)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        template = QUALITY_READINGS.get(name)
        return template.format(value=value) if template else f"{name} = {value:.4g}"
    return f"{name} = {value}"


def supported_methods(manifest: Manifest) -> list[str]:
    return [name for name, spec in METHODS.items() if spec.supports(manifest)]
