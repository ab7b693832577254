"""Gradient saliency (Simonyan, Vedaldi & Zisserman 2013, "Deep Inside Convolutional
Networks: Visualising Image Classification Models and Saliency Maps",
https://arxiv.org/abs/1312.6034) with Captum's Saliency.

``values = |dy/dx|`` (``[C, H, W]``), the gradient of the score ``y`` with respect to the
normalised input; ``abs=False`` keeps the sign.
"""

from __future__ import annotations

import numpy as np

from services.worker.explainers._gradients import GradientExplainer, attribution, prepare
from services.worker.explainers.base import Attribution, LoadedModel
from shared.methods.saliency import SaliencyParameters


class SaliencyExplainer(GradientExplainer):
    name = "saliency"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: SaliencyParameters,
        seed: int,
    ) -> Attribution:
        from captum.attr import Saliency

        twin, inputs = prepare(model, x, target)
        values = Saliency(twin).attribute(inputs, target=target, abs=parameters.abs)
        return attribution(
            method=self.name,
            model=model,
            values=values,
            target=target,
            parameters=parameters,
            seed=seed,
        )
