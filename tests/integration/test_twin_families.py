"""MONAI's classifier families, exported by both of torch's ONNX exporters, convert to twins
whose logits match ONNX Runtime's.

Each model is small (few channels, 64x64 or 96x96) and exported once per module. The ops
each export needs beyond onnx2torch's own converters are checked too: the dynamo exporter's
graphs are what the twin's added converters exist for.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from services.worker.twin.onnx2torch_compat import upstream_has
from tests.unit.twin.export import EXPORTERS, export, op_versions, twin_gap

pytestmark = pytest.mark.slow

TOLERANCE = 1e-4
HAS_EINOPS = importlib.util.find_spec("einops") is not None


class _Logits(nn.Module):
    """The first output of ``model`` (MONAI's ViT also returns its hidden states)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        return y[0] if isinstance(y, tuple) else y


def _vit() -> nn.Module:
    from monai.networks.nets import ViT

    return ViT(
        in_channels=1, img_size=(64, 64), patch_size=(16, 16), hidden_size=48, mlp_dim=96,
        num_layers=2, num_heads=4, classification=True, num_classes=3, spatial_dims=2,
    )  # fmt: skip


def _densenet121() -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(
        spatial_dims=2, in_channels=3, out_channels=2, init_features=16, growth_rate=8
    )


def _efficientnet() -> nn.Module:
    from monai.networks.nets import EfficientNetBN

    return EfficientNetBN(
        "efficientnet-b0", pretrained=False, spatial_dims=2, in_channels=1, num_classes=2
    )


def _resnet_basic() -> nn.Module:
    from monai.networks.nets import ResNet

    return ResNet(
        "basic", [1, 1, 1, 1], [8, 16, 32, 64], spatial_dims=2, n_input_channels=3, num_classes=2
    )


def _resnet_bottleneck() -> nn.Module:
    from monai.networks.nets import ResNet

    return ResNet(
        "bottleneck", [1, 1, 1, 1], [8, 16, 32, 64], spatial_dims=2, n_input_channels=1,
        num_classes=4,
    )  # fmt: skip


# name -> (builder, input shape without batch)
FAMILIES: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "vit": (_vit, (1, 64, 64)),
    "densenet121": (_densenet121, (3, 64, 64)),
    "efficientnet-b0": (_efficientnet, (1, 64, 64)),
    "resnet-basic": (_resnet_basic, (3, 64, 64)),
    "resnet-bottleneck": (_resnet_bottleneck, (1, 96, 96)),
}
# Ops each dynamo export needs that onnx2torch 1.5.15 lacks (the legacy exporter needs none).
ADDED_FOR_DYNAMO = {
    "vit": {("Gelu", 20), ("Reshape", 19), ("Shape", 19)},
    "densenet121": {("ReduceMean", 18), ("Reshape", 19), ("AveragePool", 19)},
    "efficientnet-b0": {("ReduceMean", 18), ("Reshape", 19)},
    "resnet-basic": {("ReduceMean", 18), ("Reshape", 19)},
    "resnet-bottleneck": {("ReduceMean", 18), ("Reshape", 19)},
}


def _build(name: str) -> nn.Module:
    builder, _ = FAMILIES[name]
    torch.manual_seed(0)
    model = _Logits(builder()).eval()
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():  # running statistics that are not the identity
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model


@pytest.fixture(scope="module")
def exported() -> Callable[[str, str], bytes]:
    cache: dict[tuple[str, str], bytes] = {}

    def get(name: str, exporter: str) -> bytes:
        if (name, exporter) not in cache:
            _, shape = FAMILIES[name]
            cache[name, exporter] = export(_build(name), torch.zeros(2, *shape), exporter)
        return cache[name, exporter]

    return get


def _needs(name: str) -> list[pytest.MarkDecorator]:
    if name != "vit":
        return []
    reason = "monai's ViT needs einops, which is not installed"
    return [pytest.mark.skipif(not HAS_EINOPS, reason=reason)]


CASES = [
    pytest.param(name, exporter, marks=_needs(name), id=f"{name}-{exporter}")
    for name in FAMILIES
    for exporter in EXPORTERS
]


@pytest.mark.parametrize(("name", "exporter"), CASES)
def test_twin_logits_match_onnx_runtime(exported, name, exporter) -> None:
    data = exported(name, exporter)
    _, shape = FAMILIES[name]
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((batch, *shape)).astype(np.float32) for batch in (1, 3)]
    gap = twin_gap(data, inputs)
    print(f"{name} {exporter}: max |twin - ORT| = {gap:.2e}")
    assert gap <= TOLERANCE


@pytest.mark.parametrize(("name", "exporter"), CASES)
def test_ops_beyond_onnx2torch_are_the_expected_ones(exported, name, exporter) -> None:
    added = {(op, v) for op, v in op_versions(exported(name, exporter)) if not upstream_has(op, v)}
    assert added == (ADDED_FOR_DYNAMO[name] if exporter == "dynamo" else set())
