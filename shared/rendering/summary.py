"""Global SHAP summaries over many archived explanations (beeswarm or bar), without pyplot.

The two views of ``shap.plots.beeswarm`` / ``shap.plots.bar`` (Lundberg et al. 2020, "From
local explanations to global understanding with explainable AI for trees", Nat. Mach. Intell.
2:56–67): features sorted by mean |SHAP|; the beeswarm places one point per case at its SHAP
value, stacked vertically where points crowd, coloured from low to high feature value with
cividis (a colour-vision-deficiency-safe colormap; shap's red-blue default is not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from shared.rendering._figure import FONT_SIZE, figure_png, row_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SummaryKind = Literal["beeswarm", "bar"]
VALUE_CMAP = "cividis"
BAR_COLOUR = "#0072B2"  # Okabe–Ito blue
MISSING_COLOUR = "#999999"
_SWARM_BINS = 60
_ROW_SPREAD = 0.4  # half-height of a swarm row, in row units


def _swarm_offsets(x: np.ndarray) -> np.ndarray:
    """Vertical rank offsets 0, +1, -1, +2, … for points sharing one of ``_SWARM_BINS`` x-bins."""
    low, high = float(x.min()), float(x.max())
    bins = np.floor((x - low) / max(high - low, 1e-12) * (_SWARM_BINS - 1)).astype(np.intp)
    order = np.argsort(bins, kind="stable")
    sorted_bins = bins[order]
    run_start = np.flatnonzero(np.r_[True, sorted_bins[1:] != sorted_bins[:-1]])
    rank_in_bin = np.arange(x.size) - np.repeat(run_start, np.diff(np.r_[run_start, x.size]))
    offsets = np.empty(x.size)
    offsets[order] = np.where(rank_in_bin % 2 == 1, 1, -1) * ((rank_in_bin + 1) // 2)
    return offsets


def _scaled_values(column: np.ndarray) -> np.ndarray:
    """Feature values mapped to [0, 1] between their 5th and 95th percentiles (NaN stays NaN)."""
    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return column
    low, high = np.percentile(finite, [5, 95])
    if high <= low:
        return np.where(np.isfinite(column), 0.5, np.nan)
    return np.clip((column - low) / (high - low), 0.0, 1.0)


def _beeswarm(figure: Figure, axes: Axes, shap: np.ndarray, values: np.ndarray) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n_features = shap.shape[1]
    offsets = np.stack([_swarm_offsets(shap[:, j]) for j in range(n_features)], axis=1)
    spread = _ROW_SPREAD / max(1.0, float(np.abs(offsets).max()))
    rows = np.broadcast_to(n_features - 1 - np.arange(n_features), shap.shape)
    y = rows + offsets * spread
    colour = np.stack([_scaled_values(values[:, j]) for j in range(n_features)], axis=1)
    missing = ~np.isfinite(colour)
    axes.scatter(shap[missing], y[missing], s=9, c=MISSING_COLOUR, linewidths=0)
    axes.scatter(
        shap[~missing], y[~missing], s=9, c=colour[~missing], cmap=VALUE_CMAP, vmin=0, vmax=1,
        linewidths=0,
    )  # fmt: skip
    axes.axvline(0.0, color="#777777", linewidth=0.8, zorder=0)
    axes.set_xlabel("SHAP value (impact on model output)", fontsize=FONT_SIZE)
    position = axes.get_position()
    bar_axes = figure.add_axes((position.x1 + 0.015, position.y0, 0.015, position.height))
    colorbar = figure.colorbar(ScalarMappable(Normalize(0, 1), VALUE_CMAP), cax=bar_axes)
    colorbar.set_ticks([0, 1], labels=["low", "high"], fontsize=FONT_SIZE - 1)
    colorbar.set_label("feature value", fontsize=FONT_SIZE, labelpad=-6)


def render_summary(
    values: np.ndarray,
    feature_values: np.ndarray,
    feature_names: Sequence[str],
    *,
    kind: SummaryKind = "beeswarm",
    max_display: int = 15,
) -> bytes:
    """RGB PNG summarising SHAP values over many cases, 760 px wide.

    ``values`` and ``feature_values``: ``[n_cases, n_features]`` (NaN feature values are drawn
    grey); ``feature_names``: ``n_features`` names. Shows the ``max_display`` features with the
    largest mean |SHAP|, most important at the top; ``kind="bar"`` draws those means.
    """
    shap = np.asarray(values, dtype=np.float64)
    inputs = np.asarray(feature_values, dtype=np.float64)
    if shap.ndim != 2 or shap.shape[0] == 0 or shap.shape[1] == 0:
        raise ValueError(f"values must be [n_cases, n_features] and non-empty, got {shap.shape}")
    if inputs.shape != shap.shape or len(feature_names) != shap.shape[1]:
        raise ValueError(
            f"values {shap.shape}, feature_values {inputs.shape} and "
            f"{len(feature_names)} names do not agree"
        )
    if not np.isfinite(shap).all():
        raise ValueError("SHAP values must be finite")
    if kind not in ("beeswarm", "bar"):
        raise ValueError(f"kind must be 'beeswarm' or 'bar', got {kind!r}")
    if max_display < 1:
        raise ValueError(f"max_display must be at least 1, got {max_display}")
    importance = np.abs(shap).mean(axis=0)
    order = np.argsort(-importance, kind="stable")[:max_display]
    names = [str(feature_names[j]) for j in order]
    n = order.size
    figure, axes = row_figure(
        names,
        plot_px=26 * max(n, 4) + 15,
        bottom_px=50,
        top_px=30,
        right_px=90 if kind == "beeswarm" else 30,
    )
    if kind == "bar":
        axes.barh(np.arange(n)[::-1], importance[order], height=0.62, color=BAR_COLOUR)
        axes.set_xlabel("mean |SHAP value|", fontsize=FONT_SIZE)
    else:
        _beeswarm(figure, axes, shap[:, order], inputs[:, order])
    axes.set_ylim(-0.6, n - 0.4)
    total = shap.shape[1]
    shown = f"top {n} of {total} features" if n < total else f"{n} feature{'s' * (n > 1)}"
    axes.set_title(f"{shown} over {shap.shape[0]} cases", fontsize=FONT_SIZE + 1)
    return figure_png(figure)
