"""SHAP waterfall of one tabular decision, drawn with matplotlib primitives (no pyplot).

Follows the layout of ``shap.plots.waterfall`` (Lundberg & Lee 2017, "A Unified Approach to
Interpreting Model Predictions", NeurIPS): start at the expected value E[f(X)] at the bottom,
add the aggregated small contributions first and the largest last, and end at f(x) at the top.
Colours are from the Okabe–Ito palette (Okabe & Ito 2008), distinguishable with any common
colour-vision deficiency; each bar also carries its signed value, so colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shared.rendering._figure import FONT_SIZE, figure_png, row_figure

POSITIVE_COLOUR = "#D55E00"  # Okabe–Ito vermillion: pushes the score up
NEGATIVE_COLOUR = "#0072B2"  # Okabe–Ito blue: pushes the score down
_MAX_LABEL_CHARS = 40
_WHITE_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}


def _json_value(value: Any) -> float | int | str | None:
    if value is None or isinstance(value, str):
        return value
    item = value.item() if isinstance(value, np.generic) else value
    return item if isinstance(item, int | float | str) else str(item)


def top_features(
    values: np.ndarray,
    feature_names: Sequence[str],
    feature_values: Sequence[Any] | np.ndarray,
    expected_value: float,
    k: int = 10,
) -> list[dict[str, Any]]:
    """The ``k`` largest contributions of one decision, in waterfall order, as JSON-able dicts.

    ``values``: ``[n_features]`` SHAP values; ``feature_names`` and ``feature_values`` (the
    model's input) have ``n_features`` entries. Rows are sorted by ``|shap|`` descending, each
    ``{"rank", "name", "value", "shap", "start", "end"}``; when more than ``k`` features exist,
    one last row ``{"rank": None, "name": "N other features", "value": None, ...}`` sums the
    rest. ``start``/``end`` are the running total of the waterfall, accumulated from
    ``expected_value`` upwards (last row first), so the first row ends at
    ``f(x) = expected_value + values.sum()``.
    """
    shap = np.asarray(values, dtype=np.float64)
    if shap.ndim != 1 or shap.size == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {shap.shape}")
    if len(feature_names) != shap.size or len(feature_values) != shap.size:
        raise ValueError(
            f"{shap.size} values but {len(feature_names)} names and "
            f"{len(feature_values)} feature values"
        )
    if not np.isfinite(shap).all() or not np.isfinite(expected_value):
        raise ValueError("SHAP values and the expected value must be finite")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    order = np.argsort(-np.abs(shap), kind="stable")
    rows: list[dict[str, Any]] = [
        {
            "rank": rank,
            "name": str(feature_names[index]),
            "value": _json_value(feature_values[index]),
            "shap": float(shap[index]),
        }
        for rank, index in enumerate(order[:k], start=1)
    ]
    rest = order[k:]
    if rest.size:
        name = f"{rest.size} other feature{'s' if rest.size > 1 else ''}"
        rows.append({"rank": None, "name": name, "value": None, "shap": float(shap[rest].sum())})
    running = float(expected_value)
    for row in reversed(rows):
        row["start"] = running
        running += row["shap"]
        row["end"] = running
    return rows


def _label(row: dict[str, Any]) -> str:
    value = row["value"]
    if row["rank"] is None:
        text = row["name"]
    elif isinstance(value, float):
        text = f"{row['name']} = {value:.4g}"
    else:
        text = f"{row['name']} = {value}"
    return text if len(text) <= _MAX_LABEL_CHARS else text[: _MAX_LABEL_CHARS - 1] + "…"


def render_waterfall(
    values: np.ndarray,
    feature_names: Sequence[str],
    feature_values: Sequence[Any] | np.ndarray,
    expected_value: float,
    *,
    k: int = 10,
    units_label: str = "log-odds",
    title: str | None = None,
) -> bytes:
    """RGB PNG (760 px wide) of the waterfall of :func:`top_features` (same arguments)."""
    rows = top_features(values, feature_names, feature_values, expected_value, k)
    labels = [_label(row) for row in rows]
    n = len(rows)
    figure, axes = row_figure(
        labels, plot_px=28 * max(n, 3) + 35, bottom_px=45, top_px=10 + 22 * bool(title), right_px=20
    )
    y = np.arange(n)[::-1]
    starts = np.array([row["start"] for row in rows])
    shaps = np.array([row["shap"] for row in rows])
    colours = [POSITIVE_COLOUR if s >= 0 else NEGATIVE_COLOUR for s in shaps]
    axes.barh(y, shaps, left=starts, height=0.62, color=colours)
    f_x = rows[0]["end"]
    edges = np.concatenate([starts, starts + shaps, [expected_value]])
    span = float(edges.max() - edges.min()) or 1.0  # all-zero contributions: any unit span
    for y_row, start, shap in zip(y, starts, shaps, strict=True):
        end = start + shap
        axes.text(
            end + (0.01 if shap >= 0 else -0.01) * span,
            y_row,
            f"{shap:+.3g}",
            ha="left" if shap >= 0 else "right",
            va="center",
            fontsize=FONT_SIZE - 1,
        )
    for x, text, y_text, va in (
        (expected_value, f"E[f(X)] = {expected_value:.4g}", -0.75, "top"),
        (f_x, f"f(x) = {f_x:.4g}", n - 0.35, "bottom"),
    ):
        axes.axvline(x, color="#777777", linestyle="--", linewidth=0.8, zorder=0)
        axes.text(x, y_text, text, ha="center", va=va, fontsize=FONT_SIZE, bbox=_WHITE_BOX)
    axes.set_xlim(edges.min() - 0.18 * span, edges.max() + 0.18 * span)
    axes.set_ylim(-1.35, n + 0.15)
    axes.set_xlabel(units_label, fontsize=FONT_SIZE)
    if title:
        axes.set_title(title, fontsize=FONT_SIZE + 1)
    return figure_png(figure)
