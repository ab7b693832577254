"""How well a replayed explanation agrees with the archived one: pure functions of two arrays.

Both arrays have one explanation's shape: ``[n_features]`` (tabular) or ``[C, H, W]`` (image).

- ``exact``: same shape, dtype and bytes, hence the same ``.npy`` and the same SHA-256.
- ``max_abs_diff``: ``max |archived - replayed|`` over all entries, computed in float64.
- ``spearman``: Spearman's rank correlation of the flattened, signed arrays (ties get their
  average rank). It is undefined when a side is constant (no ranking to correlate); here it is
  1.0 when both sides are constant (the same, all-tied ranking) and 0.0 when only one is.
- top features, by magnitude ``|attribution|`` (what a reader's eye goes to; a sign flip keeps
  them): tabular, the ``k = min(5, n)`` largest features; image, the channel-summed
  ``|attribution|`` of each pixel and the ``k = ceil(1% of H*W)`` largest pixels (at least one),
  small enough to name the salient region, not the background. ``top_features_same``: the two
  sets are equal; ``top_overlap``: ``|A ∩ B| / k``. Ties are broken by position (a stable
  sort), the same way on both sides, so identical arrays always give identical sets.

Non-finite values or differing shapes raise :class:`AgreementError`: there is nothing to compare.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TOP_FEATURES = 5
TOP_PIXEL_FRACTION = 0.01


class AgreementError(ValueError):
    """The two arrays cannot be compared (shape, or NaN/infinite values)."""


@dataclass(frozen=True)
class Agreement:
    exact: bool
    max_abs_diff: float
    spearman: float
    top_k: int
    top_features_same: bool
    top_overlap: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement(archived: np.ndarray, replayed: np.ndarray) -> Agreement:
    if archived.shape != replayed.shape:
        raise AgreementError(
            f"the replay has shape {list(replayed.shape)}, the archive {list(archived.shape)}"
        )
    if archived.ndim == 0:
        raise AgreementError("attributions are arrays of at least one axis")
    a, b = archived.astype(np.float64), replayed.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise AgreementError("the attributions hold NaN or infinite values")
    k, top_a = top_positions(a)
    _, top_b = top_positions(b)
    return Agreement(
        exact=archived.dtype == replayed.dtype and archived.tobytes() == replayed.tobytes(),
        max_abs_diff=float(np.max(np.abs(a - b))) if a.size else 0.0,
        spearman=spearman(a, b),
        top_k=k,
        top_features_same=top_a == top_b,
        top_overlap=len(top_a & top_b) / k if k else 1.0,
    )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of the flattened arrays, defined for constant inputs (see above)."""
    x, y = a.ravel(), b.ravel()
    x_constant, y_constant = _constant(x), _constant(y)
    if x_constant or y_constant:
        return 1.0 if x_constant and y_constant else 0.0
    from scipy.stats import rankdata, spearmanr

    if np.array_equal(rankdata(x), rankdata(y)):
        return 1.0  # exactly: spearmanr's arithmetic may give 1 - 1e-16 for the same ranking
    rho = float(spearmanr(x, y).statistic)
    return min(1.0, max(-1.0, rho))


def top_positions(values: np.ndarray) -> tuple[int, frozenset[int]]:
    """``k`` and the flat positions of the ``k`` largest features (1-D) or pixels (n-D)."""
    if values.ndim == 1:
        scores = np.abs(values)
        k = min(TOP_FEATURES, scores.size)
    else:
        pixels = np.abs(values).reshape(-1, *values.shape[-2:]).sum(axis=0)
        scores = pixels.ravel()
        k = max(1, math.ceil(TOP_PIXEL_FRACTION * scores.size)) if scores.size else 0
    order = np.argsort(-scores, kind="stable")[:k]
    return k, frozenset(int(i) for i in order)


def _constant(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(values == values[0]))
