"""Tiny real bundles for fast tests: a small CNN exported to ONNX and a small GBT via skl2onnx.

They go through the same path as any bundle (manifest, registry, ORT, onnx2torch twin); only
their size differs from the demo bundles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.bundles.manifest import (
    Explanations,
    Feature,
    ImageInput,
    Manifest,
    Output,
    TabularInput,
)
from shared.bundles.registry import write_manifest

IMAGE_SIZE = 32


def build_tiny_image_bundle(root: Path, *, name: str = "tiny-cnn", version: str = "v1") -> Path:
    import onnx
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    ).eval()
    folder = root / name / version
    folder.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE),),
        str(folder / "model.onnx"),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    graph = onnx.load(str(folder / "model.onnx")).graph
    last_relu = [n.name for n in graph.node if n.op_type == "Relu"][-1]
    write_manifest(
        folder,
        Manifest(
            name=name,
            version=version,
            task="image-classification",
            default=True,
            input=ImageInput(
                height=IMAGE_SIZE, width=IMAGE_SIZE, channels=1, mean=(0.5,), std=(0.25,)
            ),
            output=Output(name="logits", kind="logits", labels=("normal", "pneumonia")),
            explanations=Explanations(
                default_methods=("integrated_gradients", "gradcam"),
                parameters={"integrated_gradients": {"n_steps": 16}},
                gradcam_layer=last_relu,
            ),
        ),
    )
    return folder


def build_tiny_tabular_bundle(root: Path, *, name: str = "tiny-gbt", version: str = "v1") -> Path:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target
    classifier = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0)
    classifier.fit(x, y)
    onnx_model = convert_sklearn(
        classifier,
        initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    folder = root / name / version
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onnx_model.SerializeToString())
    np.save(folder / "background.npy", x[:50])
    output = [o.name for o in onnx_model.graph.output][-1]
    write_manifest(
        folder,
        Manifest(
            name=name,
            version=version,
            task="tabular-classification",
            default=True,
            model_family="tree-ensemble",
            input=TabularInput(
                features=tuple(
                    Feature(name=str(n), minimum=0.0, maximum=float(np.ceil(x[:, i].max() * 3)))
                    for i, n in enumerate(data.feature_names)
                )
            ),
            output=Output(
                name=output, kind="probabilities", labels=("malignant", "benign"), positive_index=0
            ),
            explanations=Explanations(
                default_methods=("tree_shap",), background_file="background.npy"
            ),
        ),
    )
    return folder


def breast_cancer_case(row: int = 0) -> dict[str, float]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return {str(n): float(v) for n, v in zip(data.feature_names, data.data[row], strict=True)}
