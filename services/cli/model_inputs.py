"""What ``xai models add`` reads from files: labels, background rows, features."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from shared.bundles.manifest import Feature


def read_labels(labels: str | None, labels_file: Path | None) -> tuple[str, ...] | None:
    if labels is not None:
        return tuple(label.strip() for label in labels.split(",") if label.strip())
    if labels_file is not None:
        lines = labels_file.read_text().splitlines()
        return tuple(line.strip() for line in lines if line.strip())
    return None


def background_rows(path: Path) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Rows as float32 ``[n, n_features]``; a CSV's header (when not numeric) names the features."""
    if path.suffix == ".npy":
        rows = np.load(path, allow_pickle=False)
        names = None
    else:
        with path.open(newline="") as handle:
            table = [row for row in csv.reader(handle) if row]
        if not table:
            raise ValueError(f"{path} has no rows")
        names = None
        try:
            [float(v) for v in table[0]]
        except ValueError:
            names, table = tuple(v.strip() for v in table[0]), table[1:]
        rows = np.asarray(table, dtype=np.float64)
    if rows.ndim != 2 or len(rows) == 0 or not np.all(np.isfinite(rows)):
        raise ValueError(f"{path}: background rows must be a finite [n, n_features] table")
    return rows.astype(np.float32), names


def write_background(path: Path, rows: np.ndarray) -> None:
    np.save(path, rows.astype(np.float32), allow_pickle=False)


def features_of(
    features_file: Path | None,
    rows: np.ndarray | None,
    names: tuple[str, ...] | None,
) -> tuple[Feature, ...] | None:
    """The features: a JSON list of :class:`Feature` objects, or names (one a line, else the CSV
    header, else ``x0``, ``x1``, …) with ranges from the background rows widened by the rows'
    span on each side (by 1 where a feature is constant)."""
    if features_file is not None and features_file.suffix == ".json":
        return tuple(Feature.model_validate(f) for f in json.loads(features_file.read_text()))
    if features_file is not None:
        lines = features_file.read_text().splitlines()
        names = tuple(line.strip() for line in lines if line.strip())
    if rows is None:
        if names is not None:
            raise ValueError("feature names without ranges: pass --background rows too")
        return None
    if names is None:
        names = tuple(f"x{i}" for i in range(rows.shape[1]))
    if len(names) != rows.shape[1]:
        raise ValueError(f"{len(names)} feature names for {rows.shape[1]} background columns")
    low, high = rows.min(axis=0).astype(float), rows.max(axis=0).astype(float)
    span = np.where(high > low, high - low, 1.0)
    return tuple(
        Feature(name=name, minimum=float(lo - s), maximum=float(hi + s))
        for name, lo, hi, s in zip(names, low, high, span, strict=True)
    )
