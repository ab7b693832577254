"""The quality figures explainers archive, each declared once with its reading and bound."""

from __future__ import annotations

from shared.methods.spec import QualityFigure

ADDITIVITY_BOUND = 1e-3
SERVED_PARITY_TOLERANCE = 1e-5
"""Largest served-score gap between the trees read from ``model.onnx`` and ORT before a
TreeSHAP job is refused: ORT sums float32 votes (gaps of ~1e-7 on 100 trees), a misread split or
vote moves a score far more."""

FIGURES: dict[str, QualityFigure] = {
    figure.name: figure
    for figure in (
        QualityFigure(
            "completeness_delta",
            "Completeness gap",
            "Completeness gap {value:.3g}: the pixel contributions add up to the change in the "
            "model's score between the baseline and this image, up to this amount (smaller is "
            "more faithful).",
        ),
        QualityFigure(
            "completeness_delta_relative",
            "Completeness",
            "The pixel contributions add up to the change in the model's score between the "
            "baseline image and this one, except for {value:.2%} of that change; at most the "
            "method's max_relative_delta means the map accounts for the decision.",
            bound_parameter="max_relative_delta",
            percent=True,
        ),
        QualityFigure(
            "score",
            "Score",
            "The model's score for the explained class on this input: {value:.4g}.",
        ),
        QualityFigure(
            "baseline_score",
            "Baseline score",
            "The same score on the baseline image: {value:.4g}.",
        ),
        QualityFigure(
            "additivity_error",
            "Additivity",
            "Additivity error {value:.3g}: the average output plus all feature contributions "
            "reproduces the model's output for this case up to this amount (0 is exact).",
            bound=ADDITIVITY_BOUND,
        ),
        QualityFigure(
            "superpixel_additivity_error",
            "Additivity",
            "Additivity error {value:.3g}: the score on the baseline image plus all superpixel "
            "contributions reproduces the model's score on this image up to this amount (0 is "
            "exact).",
            bound=ADDITIVITY_BOUND,
        ),
        QualityFigure(
            "additivity_error_served",
            "Additivity (served)",
            "Checked against the served ONNX model's own output, the contributions add up to "
            "within {value:.3g}.",
        ),
        QualityFigure(
            "served_parity_max_abs_diff",
            "Parity",
            "The trees read from the model file reproduce the served model's output within "
            "{value:.3g}: the explanation is of the served model.",
            bound=SERVED_PARITY_TOLERANCE,
        ),
        QualityFigure(
            "parity_max_abs_diff",
            "Parity",
            "Parity {value:.3g}: the PyTorch copy of the model that gradients are taken from "
            "agrees with the served ONNX model on this input within this amount (an explanation "
            "over the tolerance is refused, never archived).",
            bound_setting="parity_tolerance",
        ),
        QualityFigure(
            "background_rows",
            "Reference cases",
            "Contributions are measured against {value:.0f} reference cases.",
        ),
    )
}
GRADIENT_FIGURES = ("parity_max_abs_diff",)
"""Recorded for every method that differentiates the torch twin (checked before explaining)."""
SAMPLED_SHAP_FIGURES = ("additivity_error", "background_rows")
SUPERPIXEL_SHAP_FIGURES = ("superpixel_additivity_error", "score", "baseline_score")


def uses_twin(quality: tuple[str, ...]) -> bool:
    """Whether a method recording ``quality`` differentiates the torch twin: it needs one, and
    its parity with the served model is checked before it explains."""
    return set(GRADIENT_FIGURES) <= set(quality)


def quality_reading(name: str, value: object) -> str:
    """One archived quality figure in plain words (the bare figure for a name not declared)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        figure = FIGURES.get(name)
        return figure.reading.format(value=value) if figure else f"{name} = {value:.4g}"
    return f"{name} = {value}"
