"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", https://arxiv.org/abs/1610.02391) with Captum's LayerGradCam.

For the layer's activations ``A`` (``[1, K, h, w]``) and the score ``y``:
``L = ReLU(sum_k a_k A_k)`` with ``a_k`` the spatial mean of ``dy/dA_k``. The ``[h, w]`` map is
upsampled to the input's ``H x W`` and, so that every explainer returns the input's shape,
repeated over the input's ``C`` channels (``[C, H, W]``, identical planes; ``[1, H, W]`` for
grayscale). The layer is addressed by its ONNX node name (parameter ``layer``, by default the
manifest's ``gradcam_layer``).
"""

from __future__ import annotations

import numpy as np

from services.worker.explainers._gradients import GradientExplainer, attribution, prepare
from services.worker.explainers.base import Attribution, ExplainerError, LoadedModel
from shared.methods.gradcam import GradCamParameters


class GradCamExplainer(GradientExplainer):
    name = "gradcam"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: GradCamParameters,
        seed: int,
    ) -> Attribution:
        from captum.attr import LayerAttribution, LayerGradCam

        from services.worker.twin import find_layer

        p = parameters
        twin, inputs = prepare(model, x, target)
        cam = LayerGradCam(twin, find_layer(twin, p.layer)).attribute(
            inputs, target=target, relu_attributions=p.relu_attributions
        )
        if cam.dim() != 4:
            raise ExplainerError(f"layer {p.layer!r} has no [N, C, h, w] output")
        upsampled = LayerAttribution.interpolate(cam, tuple(inputs.shape[2:]), p.upsampling)
        return attribution(
            method=self.name,
            model=model,
            values=upsampled.expand(-1, inputs.shape[1], -1, -1),
            target=target,
            parameters=p,
            seed=seed,
        )
