"""What the tabular SHAP explainers share: background rows, seeds and links."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from services.worker.explainers.base import Attribution, ExplainerError, LoadedModel
from shared.methods import MethodParameters
from shared.versions import package_versions

_EPS32 = float(np.finfo(np.float32).epsneg)  # the gap below 1.0 in float32


def checked_row(model: LoadedModel, x: np.ndarray, target: int) -> np.ndarray:
    """``x`` as a float32 ``[1, n_features]`` row, with ``target`` inside the model's labels."""
    n_features = len(model.manifest.input.features)  # type: ignore[union-attr]
    if x.shape != (1, n_features):
        raise ExplainerError(f"expected one row of {n_features} features, got shape {x.shape}")
    if not 0 <= target < len(model.manifest.output.labels):
        raise ExplainerError(f"target {target} is not a class of {model.manifest.name}")
    return np.asarray(x, dtype=np.float32)


def background_rows(model: LoadedModel, *, max_rows: int | None, seed: int) -> np.ndarray:
    """The bundle's background rows (float32 ``[n, n_features]``).

    Past ``max_rows`` (``None``: no limit), a sample of ``max_rows`` rows without replacement,
    drawn with ``seed`` and kept in file order, so a replay with the same seed sees the same rows.
    """
    name = model.manifest.explanations.background_file
    if name is None:
        raise ExplainerError(f"{model.manifest.name} has no background_file for SHAP")
    try:
        rows = np.load(model.bundle.file(name), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ExplainerError(f"cannot read background {name}: {exc}") from exc
    n_features = len(model.manifest.input.features)  # type: ignore[union-attr]
    if rows.ndim != 2 or rows.shape[1] != n_features or len(rows) == 0:
        raise ExplainerError(f"background {name} has shape {rows.shape}, not [n, {n_features}]")
    if max_rows is not None and len(rows) > max_rows:
        rng = np.random.default_rng(seed % 2**32)
        keep = rng.choice(len(rows), size=max_rows, replace=False)
        rows = rows[np.sort(keep)]
    return rows.astype(np.float32)


def score_function(
    model: LoadedModel, *, target: int, link: str
) -> Callable[[np.ndarray], np.ndarray]:
    """``rows [n, n_features] -> [n]``: the served score of class ``target``.

    Under the ``logit`` link probabilities are clipped to [2**-24, 1 - 2**-24] (float32's
    resolution below 1), so a served 1.0 becomes the largest float32 below 1 and its logit
    stays finite.
    """

    def scores(rows: np.ndarray) -> np.ndarray:
        result = model.scores(np.asarray(rows, dtype=np.float32))[:, target]
        return np.clip(result, _EPS32, 1.0 - _EPS32) if link == "logit" else result

    return scores


def explained_score(scores: Callable[[np.ndarray], np.ndarray], x: np.ndarray, link: str) -> float:
    """f(x) on the scale the SHAP values add up to: the served score, or its logit."""
    served = scores(x)[0]
    return float(logit(served)) if link == "logit" else float(served)


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)), with ``p`` clipped to [2**-24, 1 - 2**-24] as in :func:`score_function`."""
    p = np.clip(p, _EPS32, 1.0 - _EPS32)
    return np.log(p) - np.log1p(-p)


@contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (shap's Kernel and Permutation explainers draw from it)
    for the block, then restore the state the caller had."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def library_versions(*packages: str) -> dict[str, str]:
    """Installed versions of numpy and ``packages``."""
    return package_versions("numpy", *packages)


def sampled_shap_attribution(
    *,
    method: str,
    model: LoadedModel,
    values: np.ndarray,
    expected: float,
    explained: float,
    target: int,
    parameters: MethodParameters,
    seed: int,
    background_rows: int,
) -> Attribution:
    """The result of a sampling SHAP explainer (Kernel, Permutation) on the ORT session."""
    return Attribution(
        method=method,
        values=values,
        target=target,
        parameters=parameters.recorded(),
        model_sha256=model.bundle.sha256,
        seed=seed,
        baseline=expected,
        quality={
            "additivity_error": float(abs(expected + values.sum() - explained)),
            "background_rows": float(background_rows),
        },
        library_versions=library_versions("shap", "onnxruntime"),
    )
