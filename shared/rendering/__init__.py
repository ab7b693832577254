"""Renderings of explanations: numpy arrays in, PNG bytes (and JSON-able rows) out.

Only numpy, Pillow and (imported lazily, never pyplot) matplotlib are used, so the API can
re-render stored attributions with query options without the worker's ML stack.
"""

from shared.rendering.heatmap import heatmap_rgb, normalise_attributions, render_heatmap
from shared.rendering.options import HeatmapOptions
from shared.rendering.summary import render_summary
from shared.rendering.waterfall import render_waterfall, top_features

__all__ = [
    "HeatmapOptions",
    "heatmap_rgb",
    "normalise_attributions",
    "render_heatmap",
    "render_summary",
    "render_waterfall",
    "top_features",
]
