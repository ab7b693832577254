"""Small models built at test time, exported the way a hospital would export them."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tests.unit.twin.export import export

N_FEATURES = 8
SEED = 0


def resnet() -> nn.Module:
    """MONAI's ResNet (basic blocks), 1 channel, GAP + linear head, non-trivial batch norms."""
    from monai.networks.nets import ResNet

    torch.manual_seed(SEED)
    model = ResNet(
        "basic", [1, 1, 1, 1], [8, 16, 32, 64], spatial_dims=2, n_input_channels=1, num_classes=2
    ).eval()
    return vary_batch_norms(model)


def vary_batch_norms(model: nn.Module) -> nn.Module:
    """Seeded running statistics away from (0, 1), so that every batch norm computes something."""
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model


class TinyViT(nn.Module):
    """Patch embedding, one pre-norm attention + MLP block, the class token read by a linear
    head: a ViT whose only 4-D map is the patch embedding, which nothing pools."""

    def __init__(self, size: int = 32, patch: int = 8, dim: int = 32, classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.position = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.1)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, classes)
        self.scale = dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1) + self.position
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        attention = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=-1)
        tokens = tokens + attention @ v
        tokens = tokens + self.mlp(self.norm2(tokens))
        return self.head(tokens[:, 0])


def vit() -> nn.Module:
    torch.manual_seed(SEED)
    return TinyViT().eval()


def export_torch(model: nn.Module, shape: tuple[int, ...], exporter: str, path: Path) -> Path:
    """Dynamic batch axis; legacy at opset 17, dynamo at its own lowest (18: asked for 17 it
    tries a version conversion that fails on ReduceMean's axes input and keeps 18)."""
    opset = 17 if exporter == "legacy-17" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path.write_bytes(export(model, torch.zeros(2, *shape), exporter, opset=opset))
    return path


def breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names[:N_FEATURES]]
    return data.data[:, :N_FEATURES].astype(np.float32), data.target, names


def write_background_csv(path: Path) -> Path:
    x, _, names = breast_cancer()
    rows = np.random.default_rng(SEED).choice(len(x), 40, replace=False)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(x[np.sort(rows)].tolist())
    return path


def tabular_native(family: str) -> Any:
    """``family`` trained on 8 breast-cancer features: the library's own fitted model."""
    x, y, _ = breast_cancer()
    if family == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=10, max_depth=3, random_state=SEED).fit(x, y)
    if family == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=10, num_leaves=7, random_state=SEED, verbose=-1).fit(
            x, y
        )
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "random-forest": lambda: RandomForestClassifier(
            n_estimators=10, max_depth=4, random_state=SEED
        ),
        "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=10, random_state=SEED),
        "scaler-logistic": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
    }[family]().fit(x, y)


def tabular_onnx(family: str, path: Path, model: Any = None) -> Path:
    """``family`` (:func:`tabular_native`, or the fitted ``model`` given) exported as its
    library exports it."""
    model = tabular_native(family) if model is None else model
    if family == "xgboost":
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

        proto = convert_xgboost(
            model, initial_types=[("input", MLFloat([None, N_FEATURES]))], target_opset=15
        )
    elif family == "lightgbm":
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

        proto = convert_lightgbm(
            model,
            initial_types=[("input", MLFloat([None, N_FEATURES]))],
            zipmap=False,
            target_opset=15,
        )
    else:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        proto = convert_sklearn(
            model, initial_types=[("input", FloatTensorType([None, N_FEATURES]))],
            options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3},
        )  # fmt: skip
    path.write_bytes(proto.SerializeToString())
    return path


def densenet121() -> nn.Module:
    """MONAI's DenseNet-121 topology (dense blocks of 6, 12, 24 and 16 BN-ReLU-conv layers,
    three transitions, norm5 + ReLU read by a global average pooling and a linear head), 3
    channels, made narrow (8 initial features, growth rate 4, bottleneck 2 x growth)."""
    from monai.networks.nets import DenseNet121

    torch.manual_seed(SEED)
    model = DenseNet121(
        spatial_dims=2, in_channels=3, out_channels=2, init_features=8, growth_rate=4, bn_size=2
    ).eval()
    return vary_batch_norms(model)
