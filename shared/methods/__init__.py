"""The one registry of explanation methods: each declared once, in one module of this package.

A declaration (:class:`MethodSpec`) holds the method's name and modality, its parameter model
with defaults and bounds, the quality figures it archives, and its words for the people who
review a decision. The API refuses unsupported methods and bad parameters with a 422 (and
serves the registry at ``GET /v1/methods``), bundles are checked against it when loaded, the
worker's explainers receive the validated parameters, and the pages read it from the API.

Adding a method: a module here declaring ``SPEC``, listed in :data:`METHODS`, and its explainer
in ``services/worker/explainers/``, listed there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.methods import (
    gradcam,
    integrated_gradients,
    kernel_shap,
    permutation_shap,
    saliency,
    smoothgrad,
    superpixel_shap,
    tree_shap,
)
from shared.methods.quality import FIGURES, quality_reading
from shared.methods.spec import (
    MethodParameters,
    MethodSpec,
    ParameterError,
    ParameterProblem,
    QualityFigure,
)

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest

METHODS: dict[str, MethodSpec] = {
    module.SPEC.name: module.SPEC
    for module in (
        integrated_gradients,
        gradcam,
        saliency,
        smoothgrad,
        tree_shap,
        kernel_shap,
        permutation_shap,
        superpixel_shap,
    )
}

KNOWN = ", ".join(METHODS)


def supported_methods(manifest: Manifest) -> list[str]:
    return [name for name, spec in METHODS.items() if spec.supports(manifest)]


def manifest_problems(manifest: Manifest) -> list[ParameterProblem]:
    """What a bundle's manifest asks of the methods that they refuse, each ``field`` a path in
    the manifest (``explanations.parameters.<method>.<name>``)."""
    problems = [
        ParameterProblem(f"explanations.default_methods.{name}", "unknown method")
        for name in manifest.explanations.default_methods
        if name not in METHODS
    ]
    for name, given in manifest.explanations.parameters.items():
        where = f"explanations.parameters.{name}"
        spec = METHODS.get(name)
        if spec is None:
            problems.append(ParameterProblem(where, f"unknown method; known: {KNOWN}"))
            continue
        if not spec.supports(manifest):
            continue  # parameters of a method this bundle does not offer are never used
        try:
            spec.resolve(manifest, given)
        except ParameterError as exc:
            problems += [ParameterProblem(f"{where}.{p.field}", p.reason) for p in exc.problems]
    return problems


def job_parameters(
    manifest: Manifest, methods: list[str], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, MethodParameters]:
    """Each of ``methods``' parameters for a job on ``manifest``: the defaults, the manifest's,
    then ``overrides`` (a request's). Raises :class:`ParameterError` listing every problem, each
    ``field`` a path of the request (``parameters.<method>.<name>``)."""
    problems = [
        ParameterProblem(
            f"parameters.{name}",
            f"unknown method; known: {KNOWN}"
            if name not in METHODS
            else "not among the methods to compute",
        )
        for name in overrides
        if name not in methods
    ]
    resolved: dict[str, MethodParameters] = {}
    for name in methods:
        spec = METHODS[name]
        try:
            resolved[name] = spec.resolve(
                manifest, manifest.explanations.parameters.get(name), overrides.get(name)
            )
        except ParameterError as exc:
            problems += [
                ParameterProblem(f"parameters.{name}.{p.field}", p.reason) for p in exc.problems
            ]
    if problems:
        raise ParameterError(problems)
    return resolved


__all__ = [
    "FIGURES",
    "METHODS",
    "MethodParameters",
    "MethodSpec",
    "ParameterError",
    "ParameterProblem",
    "QualityFigure",
    "job_parameters",
    "manifest_problems",
    "quality_reading",
    "supported_methods",
]
