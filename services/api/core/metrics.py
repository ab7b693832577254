"""Prometheus metrics of the API process (module-level: one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PREDICTIONS = Counter("xai_predictions_total", "Predictions recorded", ["model", "label"])
INFERENCE_SECONDS = Histogram(
    "xai_prediction_seconds",
    "Time to diagnose and record a prediction (inference + transaction)",
    ["model"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
