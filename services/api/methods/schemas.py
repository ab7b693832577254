"""Wire schemas of the method registry (``GET /v1/methods``) and of per-request overrides."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from shared.methods import MethodSpec, QualityFigure

ParameterOverrides = Annotated[
    dict[str, dict[str, JsonValue]],
    Field(
        max_length=16,
        description="method -> parameter name -> value, over the bundle's (see GET /v1/methods)",
        examples=[{"integrated_gradients": {"n_steps": 64}}],
    ),
]


class ParameterOut(BaseModel):
    """One parameter of a method: its JSON type, default, bounds or choices."""

    name: str
    type: Literal["integer", "number", "boolean", "string"]
    nullable: bool = Field(description="null is accepted (it stands for the described default)")
    default: JsonValue = Field(description="absent: the bundle's manifest decides it")
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: list[str] | None = None
    description: str | None = None

    @classmethod
    def table(cls, spec: MethodSpec) -> list[ParameterOut]:
        """The rows of ``spec``'s parameter model, read from its JSON Schema."""
        schema = spec.parameters.model_json_schema()
        return [_row(name, prop) for name, prop in schema["properties"].items()]


def _row(name: str, prop: dict[str, Any]) -> ParameterOut:
    variants = prop.get("anyOf", [prop])
    value = next(v for v in variants if v.get("type") != "null")
    return ParameterOut(
        name=name,
        type=value["type"],
        nullable=len(variants) > 1,
        default=prop.get("default"),
        minimum=value.get("minimum"),
        maximum=value.get("maximum"),
        choices=value.get("enum"),
        description=prop.get("description"),
    )


class QualityOut(BaseModel):
    """A quality figure a method archives; judged good when ``value <= bound`` (the bound is a
    parameter of the job when ``bound_parameter`` is set)."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    label: str
    reading: str = Field(description="plain words; {value:.3g}-style placeholders")
    bound: float | None
    bound_parameter: str | None
    percent: bool = Field(description="shown as a percentage")


class MethodOut(BaseModel):
    """An explanation method as declared once in ``shared.methods``."""

    name: str
    label: str
    modality: Literal["image", "tabular"]
    summary: str
    plain: str
    limitations: str
    parameters: list[ParameterOut]
    quality: list[QualityOut]


def quality_out(figure: QualityFigure, settings: object) -> QualityOut:
    """``figure`` with a bound set by a setting read from ``settings``."""
    out = QualityOut.model_validate(figure)
    if figure.bound_setting is not None:
        out.bound = float(getattr(settings, figure.bound_setting))
    return out
