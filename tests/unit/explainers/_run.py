"""Run an explainer as the worker does: the parameters resolved by the method's declaration."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.worker.explainers.base import Attribution, Explainer, LoadedModel
from shared.methods import METHODS


def run(
    explainer: Explainer[Any],
    model: LoadedModel,
    x: np.ndarray,
    *,
    target: int = 1,
    seed: int = 0,
    **given: Any,
) -> Attribution:
    parameters = METHODS[explainer.name].resolve(model.manifest, given)
    return explainer.explain(model=model, x=x, target=target, parameters=parameters, seed=seed)
