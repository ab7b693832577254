"""One model per family a hospital brings, built here with random (seeded) weights and exported
the way its library exports it, with the ``xai models add`` arguments that admit it.

Image models are 224x224, 3 channels (ImageNet mean/std); tabular models are trained on
:func:`tabular_data`. Nothing here imports the test tree.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

SEED = 0
SIZE = 224
CHANNELS = 3
IMAGE_ARGS = (
    "--labels", "normal,pneumonia", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225",
)  # fmt: skip
EXPORTERS = ("legacy-17", "dynamo")


@dataclass(frozen=True)
class Exported:
    """A model file and the ``xai models add`` flags (besides name, version, bundles dir)."""

    model: Path
    args: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    name: str
    kind: Literal["image", "tabular"]
    summary: str
    build: Callable[[Path, str], Exported]
    """``build(folder, exporter)``; tabular families ignore the exporter."""


# ---- image models ---------------------------------------------------------------------------


def export_torch(module: Any, path: Path, exporter: str) -> Path:
    """``module`` (a torch ``nn.Module``) as ONNX with a dynamic batch axis: ``legacy-17`` is
    the TorchScript exporter at opset 17, ``dynamo`` torch's default exporter at its own opset."""
    import torch

    example = torch.zeros(2, CHANNELS, SIZE, SIZE)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "legacy-17":
            torch.onnx.export(
                module.eval(), (example,), str(path), dynamo=False, opset_version=17,
                input_names=["input"], output_names=["scores"],
                dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
            )  # fmt: skip
        else:
            torch.onnx.export(
                module.eval(), (example,), str(path), dynamo=True, verbose=False,
                input_names=["input"], output_names=["scores"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},),
            )  # fmt: skip
    return path


def _densenet121() -> Any:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=2, in_channels=CHANNELS, out_channels=2)


def _resnet18() -> Any:
    from monai.networks.nets import resnet18

    return resnet18(spatial_dims=2, n_input_channels=CHANNELS, num_classes=2)


def _vit_tiny() -> Any:
    """MONAI's ViT at ViT-Ti/16 width (192 wide, 12 layers, 3 heads) with a linear head; MONAI
    returns ``(logits, hidden states)``, so the export reads the logits only."""
    import torch
    from monai.networks.nets import ViT

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vit = ViT(
                in_channels=CHANNELS, img_size=SIZE, patch_size=16, hidden_size=192, mlp_dim=768,
                num_layers=12, num_heads=3, classification=True, num_classes=2, spatial_dims=2,
                post_activation=None,
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.vit(x)[0]

    return Logits()


def _effnet() -> Any:
    from monai.networks.nets import EfficientNetBN

    model = EfficientNetBN("efficientnet-b0", pretrained=False, in_channels=CHANNELS, num_classes=2)
    model.set_swish(memory_efficient=False)  # a plain x * sigmoid(x) the exporters can trace
    return model


def _image(make: Callable[[], Any]) -> Callable[[Path, str], Exported]:
    def build(folder: Path, exporter: str) -> Exported:
        import torch

        torch.manual_seed(SEED)
        path = export_torch(
            make(), folder / f"{make.__name__.strip('_')}-{exporter}.onnx", exporter
        )
        return Exported(model=path, args=IMAGE_ARGS)

    return build


# ---- tabular models -------------------------------------------------------------------------


def tabular_data() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """2,000 seeded rows of 30 features (10 informative, 5 redundant, 5% of labels flipped).
    Not the breast-cancer data: it is separated after a few boosting rounds, which leaves most
    of 500 XGBoost trees a single leaf (1,274 nodes in all); here they hold about 8,000."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=2000, n_features=30, n_informative=10, n_redundant=5, flip_y=0.05,
        random_state=SEED,
    )  # fmt: skip
    return x.astype(np.float32), y, [f"f{i:02d}" for i in range(x.shape[1])]


def write_background_csv(path: Path, rows: int = 100) -> Path:
    """``rows`` seeded rows of the data with its header: what ``--background`` reads."""
    x, _, names = tabular_data()
    keep = np.sort(np.random.default_rng(SEED).choice(len(x), rows, replace=False))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(x[keep].tolist())
    return path


def boosted_onnx(library: str) -> bytes:
    """XGBoost (500 trees, depth 6) or LightGBM (200 trees, 31 leaves), through onnxmltools."""
    import onnxmltools  # type: ignore[import-untyped]
    from onnxmltools.convert.common.data_types import FloatTensorType  # type: ignore[import-untyped]

    x, y, _ = tabular_data()
    types = [("input", FloatTensorType([None, x.shape[1]]))]
    if library == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(n_estimators=500, max_depth=6, random_state=SEED).fit(x, y)
        proto = onnxmltools.convert_xgboost(model, initial_types=types, target_opset=15)
    else:
        from lightgbm import LGBMClassifier

        lgbm = LGBMClassifier(n_estimators=200, num_leaves=31, random_state=SEED, verbose=-1)
        proto = onnxmltools.convert_lightgbm(
            lgbm.fit(x, y), initial_types=types, zipmap=False, target_opset=15
        )
    return proto.SerializeToString()


def sklearn_onnx(family: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, _ = tabular_data()
    model = {
        "random-forest": lambda: RandomForestClassifier(
            n_estimators=200, max_depth=8, random_state=SEED
        ),
        "gradient-boosting": lambda: GradientBoostingClassifier(
            n_estimators=200, max_depth=3, random_state=SEED
        ),
        "scaler-logistic": lambda: make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=5000)
        ),
    }[family]().fit(x, y)
    proto = convert_sklearn(
        model, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    return proto.SerializeToString()


def _tabular(name: str) -> Callable[[Path, str], Exported]:
    def build(folder: Path, exporter: str) -> Exported:
        path = folder / f"{name}.onnx"
        boosted = name in ("xgboost", "lightgbm")
        path.write_bytes(boosted_onnx(name) if boosted else sklearn_onnx(name))
        background = folder / "background.csv"
        if not background.exists():
            write_background_csv(background)
        return Exported(model=path, args=("--background", str(background)))

    return build


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("densenet121", "image", "MONAI DenseNet-121, 224², 3 ch", _image(_densenet121)),
        Family("resnet18", "image", "MONAI ResNet-18, 224², 3 ch", _image(_resnet18)),
        Family("vit-tiny", "image", "MONAI ViT-Ti/16, 224², 3 ch", _image(_vit_tiny)),
        Family("efficientnet-b0", "image", "MONAI EfficientNet-B0, 224², 3 ch", _image(_effnet)),
        Family("xgboost", "tabular", "XGBoost, 500 trees, depth 6", _tabular("xgboost")),
        Family("lightgbm", "tabular", "LightGBM, 200 trees, 31 leaves", _tabular("lightgbm")),
        Family(
            "random-forest",
            "tabular",
            "sklearn RandomForest, 200 trees, depth 8",
            _tabular("random-forest"),
        ),
        Family(
            "gradient-boosting",
            "tabular",
            "sklearn GradientBoosting, 200 trees, depth 3",
            _tabular("gradient-boosting"),
        ),
        Family(
            "scaler-logistic",
            "tabular",
            "sklearn StandardScaler + LogisticRegression",
            _tabular("scaler-logistic"),
        ),
    )
}
