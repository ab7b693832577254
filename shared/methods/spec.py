"""What a method declaration is: its parameter model, quality figures and words.

A method is declared once, in one module of this package (see :mod:`shared.methods`); the API
validates requests and bundles with its parameter model and serves it at ``GET /v1/methods``,
the worker's explainer receives the validated model, and the pages read the words from the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

if TYPE_CHECKING:
    from shared.bundles.manifest import Manifest

Modality = Literal["image", "tabular"]
MAX_EXACT_INT = 2**53 - 1
"""The largest integer a JSON number holds exactly (RFC 8785, which the archive's records use)."""


class MethodParameters(BaseModel):
    """Base of every method's parameters: unknown names, wrong types (no coercion from strings
    or booleans), non-finite floats and integers past 2**53 are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _exact_in_json(cls, value: Any) -> Any:
        """An integer the archive's canonical JSON cannot hold exactly is refused, not a 500."""
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INT:
            raise ValueError(f"must be an integer of magnitude at most {MAX_EXACT_INT}")
        return value

    def recorded(self) -> dict[str, Any]:
        """The parameters as archived with a result (JSON values)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class ParameterProblem:
    """One refused parameter: ``field`` is its name (or the method's, for a refused method)."""

    field: str
    reason: str


class ParameterError(ValueError):
    """Parameters a method refuses; each problem names its field."""

    def __init__(self, problems: list[ParameterProblem], *, method: str | None = None) -> None:
        self.problems = problems
        listed = "; ".join(f"{p.field}: {p.reason}" for p in problems)
        super().__init__(f"{method}: {listed}" if method else listed)


@dataclass(frozen=True)
class QualityFigure:
    """A figure an explainer archives in ``quality``, read in plain words.

    ``reading`` is a ``str.format`` template of ``value`` (specs ``.Ng``, ``.N%``, ``.Nf``). A
    figure with a bound is judged: good when ``value <= bound``, the bound being ``bound``, the
    job's parameter ``bound_parameter``, or the API's setting ``bound_setting``.
    """

    name: str
    label: str
    reading: str
    bound: float | None = None
    bound_parameter: str | None = None
    bound_setting: str | None = None
    percent: bool = False


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method. ``summary``: the method and its paper; ``plain``: what it shows,
    for a non-specialist; ``limitations``: what it does not show. ``bundle_defaults`` gives the
    defaults a bundle's manifest decides (a baseline, a layer); ``bundle_check`` refuses values a
    bundle cannot take (it returns the problems)."""

    name: str
    label: str
    modality: Modality
    summary: str
    plain: str
    limitations: str
    parameters: type[MethodParameters]
    supports: Callable[[Manifest], bool]
    quality: tuple[str, ...] = ()
    bundle_defaults: Callable[[Manifest], dict[str, Any]] = field(default=lambda _: {})
    bundle_check: Callable[[MethodParameters, Manifest], list[ParameterProblem]] = field(
        default=lambda _p, _m: []
    )

    def resolve(self, manifest: Manifest, *layers: Mapping[str, Any] | None) -> MethodParameters:
        """The parameters for ``manifest``: the model's defaults, then the bundle's, then each
        of ``layers`` in turn (the manifest's, a request's override, a job's record). Raises
        :class:`ParameterError` naming each refused field."""
        merged = dict(self.bundle_defaults(manifest))
        for layer in layers:
            merged.update(layer or {})
        try:
            parameters = self.parameters.model_validate(merged)
        except ValidationError as exc:
            raise ParameterError(problems_of(exc, self.parameters), method=self.name) from None
        problems = self.bundle_check(parameters, manifest)
        if problems:
            raise ParameterError(problems, method=self.name)
        return parameters


def problems_of(exc: ValidationError, model: type[BaseModel]) -> list[ParameterProblem]:
    """pydantic's errors as short reasons naming the parameter."""
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "parameters"
        problems.append(ParameterProblem(name, _reason(error, model)))
    return problems


_REASONS = {
    "missing": "required",
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "literal_error": "must be one of {expected}",
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
}


def _reason(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown parameter; known: {', '.join(model.model_fields)}"
    template = _REASONS.get(kind)
    if template is None:
        return str(error["msg"]).removeprefix("Value error, ")
    return template.format(**error.get("ctx", {}))


def image_network(manifest: Manifest) -> bool:
    return manifest.task == "image-classification" and manifest.model_family == "neural-network"


def tabular(manifest: Manifest) -> bool:
    return manifest.task == "tabular-classification"


def tree_ensemble(manifest: Manifest) -> bool:
    return tabular(manifest) and manifest.model_family == "tree-ensemble"
