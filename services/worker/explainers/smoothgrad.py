"""SmoothGrad (Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise",
https://arxiv.org/abs/1706.03825) with Captum's NoiseTunnel.

``values = mean over n of A(x + e_n)`` with ``e_n ~ N(0, stdevs^2)`` i.i.d. per pixel and
``A`` the base method: Saliency (default, ``|dy/dx|``) or Integrated Gradients. ``values``
has the input's shape ``[C, H, W]``. ``stdevs`` defaults to 0.15 of the input's range, the
paper's 10-20 % noise level. The noise is drawn from the job's ``seed`` on a forked RNG, so
one seed gives bit-identical values on one machine and the global RNG state is untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import numpy as np

from services.worker.explainers import integrated_gradients as ig
from services.worker.explainers._gradients import (
    GradientExplainer,
    attribution,
    prepare,
    takes_batches,
)
from services.worker.explainers.base import Attribution, LoadedModel
from shared.bundles.manifest import ImageInput
from shared.methods.smoothgrad import NOISE_LEVEL, SmoothGradParameters


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed the CPU generator and ``device``'s, and restore both on exit."""
    import torch

    where = torch.device(device)
    accelerators = [where] if where.type != "cpu" else []
    device_type = where.type if accelerators else None
    with torch.random.fork_rng(devices=accelerators, device_type=device_type):
        torch.random.default_generator.manual_seed(seed)
        for accelerator in accelerators:
            module = torch.get_device_module(accelerator.type)
            with module.device(accelerator):
                module.manual_seed(seed)
        yield


class SmoothGradExplainer(GradientExplainer):
    name = "smoothgrad"

    def explain(
        self,
        *,
        model: LoadedModel,
        x: np.ndarray,
        target: int,
        parameters: SmoothGradParameters,
        seed: int,
    ) -> Attribution:
        import torch
        from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

        twin, inputs = prepare(model, x, target)
        p = parameters
        if p.stdevs is None:
            p = p.model_copy(update={"stdevs": NOISE_LEVEL * float(x.max() - x.min())})
        batches = takes_batches(twin, inputs)
        baseline = None
        options: dict[str, object]
        if p.base == "saliency":
            tunnel, options = NoiseTunnel(Saliency(twin)), {"abs": p.abs}
        else:
            if not batches:
                p = p.model_copy(update={"internal_batch_size": 1})
            baseline = ig.baseline_for(p.baseline, cast(ImageInput, model.manifest.input), x)
            tunnel = NoiseTunnel(IntegratedGradients(twin))
            options = {
                "baselines": torch.as_tensor(baseline, device=model.device),
                "n_steps": p.n_steps,
                "method": p.method,
                "internal_batch_size": p.internal_batch_size,
            }
        with seeded(seed, model.device):
            values = tunnel.attribute(
                inputs,
                nt_type="smoothgrad",
                nt_samples=p.nt_samples,
                nt_samples_batch_size=None if batches else 1,
                stdevs=p.stdevs,
                target=target,
                **options,
            )
        return attribution(
            method=self.name,
            model=model,
            values=values,
            target=target,
            parameters=p,
            seed=seed,
            baseline=None if baseline is None else baseline[0],
        )
