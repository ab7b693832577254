"""Models whose outputs are more than one class: multi-label sigmoid heads and regressions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tests.integration.admission.models import N_FEATURES, SEED, breast_cancer, resnet

REGRESSED_FEATURE = "worst_radius"
"""The tabular regressors predict breast-cancer column 20 (mm) from the first 8 features."""


def multilabel_resnet(findings: int = 5) -> nn.Module:
    """The small MONAI ResNet of :func:`~.models.resnet` with ``findings`` sigmoid outputs."""
    backbone = resnet()
    torch.manual_seed(SEED + findings)
    backbone.fc = nn.Linear(backbone.fc.in_features, findings)
    return nn.Sequential(backbone, nn.Sigmoid()).eval()


def finding_labels(findings: int) -> tuple[str, ...]:
    return tuple(f"finding-{i}" for i in range(findings))


class ScoreCNN(nn.Module):
    """Two convolutions, global average pooling and ``Linear(-> 1)``: an image regression with
    no activation on its value (e.g. a predicted ejection fraction)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
        )
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.features(x).mean(dim=(2, 3))
        return self.head(pooled) * 10.0 + 55.0


def score_cnn() -> nn.Module:
    torch.manual_seed(SEED)
    return ScoreCNN().eval()


def tabular_regressor(family: str) -> Any:
    """``family`` (``gbr``: scikit-learn gradient boosting, ``xgboost``) fitted to predict
    :data:`REGRESSED_FEATURE` from the 8 features of :func:`~.models.breast_cancer`."""
    from sklearn.datasets import load_breast_cancer

    x, _, _ = breast_cancer()
    y = load_breast_cancer().data[:, 20].astype(np.float32)
    if family == "xgboost":
        from xgboost import XGBRegressor

        return XGBRegressor(n_estimators=20, max_depth=3, random_state=SEED).fit(x, y)
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=SEED).fit(x, y)


def export_regressor(family: str, path: Path) -> Path:
    """The fitted :func:`tabular_regressor` as its converter exports it (onnxmltools for
    XGBoost, skl2onnx for scikit-learn): one ``TreeEnsembleRegressor``, output ``[N, 1]``."""
    model = tabular_regressor(family)
    if family == "xgboost":
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

        proto = convert_xgboost(
            model, initial_types=[("input", MLFloat([None, N_FEATURES]))], target_opset=15
        )
    else:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        proto = convert_sklearn(
            model, initial_types=[("input", FloatTensorType([None, N_FEATURES]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )  # fmt: skip
    path.write_bytes(proto.SerializeToString())
    return path
