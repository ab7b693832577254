"""Validated options for heatmap renderings, shared by the worker and the API's query parameters.

The allowed values are ``Literal`` types, so the API can expose them as enumerated query
parameters (``Annotated[HeatmapOptions, Query()]``) and OpenAPI lists them.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Cmap = Literal["auto", "cividis", "viridis", "magma", "inferno", "gray", "RdBu_r", "coolwarm"]
Polarity = Literal["positive", "negative", "both", "absolute"]
Overlay = Literal["original", "grayscale", "mask", "none"]

CMAPS: tuple[str, ...] = get_args(Cmap)
POLARITIES: tuple[str, ...] = get_args(Polarity)
OVERLAYS: tuple[str, ...] = get_args(Overlay)

SEQUENTIAL_DEFAULT = "cividis"
DIVERGING_DEFAULT = "RdBu_r"


class HeatmapOptions(BaseModel):
    """How an attribution map is turned into a picture.

    Defaults: ``cmap="auto"`` resolves to **cividis** for one-signed maps and **RdBu_r** for
    ``polarity="both"``. Cividis (Nuñez, Anderton & Renslow 2018, PLoS ONE 13(7):e0199239) is
    perceptually uniform with monotone lightness and was optimised to look the same to viewers
    with red-green colour-vision deficiency; it also survives grey-scale printing. RdBu_r
    (ColorBrewer, marked colour-blind safe) keeps zero at white so the sign reads at a glance.
    ``polarity="positive"`` shows the evidence *for* the explained class (for Grad-CAM, which is
    non-negative, it equals ``"absolute"``). ``alpha`` is the heatmap opacity at a saturated
    pixel; opacity scales with the normalised magnitude, so unattributed pixels show the image
    unchanged. In ``mask`` mode ``alpha`` is how much the pixels outside the top
    ``mask_top_percent`` % are dimmed (0: not at all, 1: black). ``clip_percentile`` is also
    accepted as ``clip`` (its query-parameter name).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    cmap: Cmap = "auto"
    polarity: Polarity = "positive"
    clip_percentile: float = Field(
        default=99.0,
        alias="clip",
        ge=50.0,
        le=100.0,
        description="Magnitudes above this percentile of the non-zero |attribution| saturate.",
    )
    overlay: Overlay = "original"
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    mask_top_percent: float = Field(
        default=10.0, gt=0.0, le=100.0, description="Share of pixels kept in mask mode."
    )
    colorbar: bool = Field(default=False, description="Append a labelled colour bar.")

    @model_validator(mode="after")
    def _colorbar_needs_colours(self) -> HeatmapOptions:
        if self.colorbar and self.overlay == "mask":
            raise ValueError("colorbar=true has no meaning with overlay='mask' (no colours drawn)")
        return self

    @property
    def resolved_cmap(self) -> str:
        """The matplotlib colormap name that ``cmap`` stands for under this polarity."""
        if self.cmap != "auto":
            return self.cmap
        return DIVERGING_DEFAULT if self.polarity == "both" else SEQUENTIAL_DEFAULT
