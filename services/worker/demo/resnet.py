"""A ResNet-18 with seeded random weights, for latency benchmarks (not a demo model).

The architecture of He et al. 2016, "Deep Residual Learning for Image Recognition" (BasicBlock,
stages of 2-2-2-2 blocks at 64-128-256-512 channels), written out here because torchvision is
not installed. Input ``[n, 3, 224, 224]``, output ``[n, 2]`` logits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from services.worker.demo.torch_export import deterministic_torch, export_onnx, pooled_feature_node
from shared.bundles.manifest import Explanations, ImageInput, Manifest, Output
from shared.bundles.registry import MODEL_FILE, write_manifest

NAME = "resnet18-bench"
VERSION = "random"
BUILDER_VERSION = "1"
SEED = 0
SIZE = 224


class BasicBlock(nn.Module):
    """Two 3x3 conv+BN layers with an identity (or 1x1 projection) shortcut, then ReLU."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), four stages of two blocks, GAP, linear.

    Convolutions get He initialisation (fan-out, as torchvision does), so activations and
    logits stay of order one through the 18 layers even with random weights.
    """

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        stages, channels = [], 64
        for index, width in enumerate((64, 128, 256, 512)):
            stride = 1 if index == 0 else 2
            stages.append(
                nn.Sequential(BasicBlock(channels, width, stride), BasicBlock(width, width, 1))
            )
            channels = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_resnet18_model(folder: Path) -> dict[str, float]:
    """Export the seeded ResNet-18 and write its manifest into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with deterministic_torch(SEED):
        model = ResNet18()
    example = np.random.default_rng(SEED).random((2, 3, SIZE, SIZE), dtype=np.float32)
    model_path = folder / MODEL_FILE
    parity = export_onnx(model, example, model_path, atol=1e-3)
    manifest = Manifest(
        name=NAME,
        version=VERSION,
        task="image-classification",
        description="ResNet-18 architecture with random weights: latency benchmarks only.",
        input=ImageInput(
            height=SIZE,
            width=SIZE,
            channels=3,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
        ),
        output=Output(name="logits", kind="logits", labels=("class-0", "class-1")),
        explanations=Explanations(
            default_methods=("gradcam",), gradcam_layer=pooled_feature_node(model_path)
        ),
        model_card={
            "builder_version": BUILDER_VERSION,
            "intended_use": "Latency benchmarks. Random weights (torch seed 0): its outputs "
            "mean nothing.",
            "onnx_parity_max_abs_diff": parity,
        },
    )
    write_manifest(folder, manifest)
    return {"onnx_parity_max_abs_diff": parity}


def build_resnet18_bundle(out: Path) -> Path:
    """Build ``<out>/resnet18-bench/random`` (skipped when up to date); return its folder."""
    from services.worker.demo.build import BundleBuilder, build_bundle

    return build_bundle(out, BundleBuilder(NAME, VERSION, BUILDER_VERSION, build_resnet18_model))
