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


def _export_cnn(
    root: Path, name: str, version: str, *, n_outputs: int, biases: tuple[float, ...] = ()
) -> Path:
    """Two convolutions, global average pooling and a linear head of ``n_outputs`` (its biases
    set when given), exported with a dynamic batch axis to ``root/name/version/model.onnx``."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    features = [  # created before the head: the same weights as ever for a seed
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ]
    head = nn.Linear(8, n_outputs)
    if biases:
        with torch.no_grad():
            head.bias.copy_(torch.tensor(biases))
    model = nn.Sequential(*features, head).eval()
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
    return folder


def _last_relu(path: Path) -> str:
    import onnx

    return [n.name for n in onnx.load(str(path)).graph.node if n.op_type == "Relu"][-1]


def build_tiny_image_bundle(root: Path, *, name: str = "tiny-cnn", version: str = "v1") -> Path:
    folder = _export_cnn(root, name, version, n_outputs=2)
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
                gradcam_layer=_last_relu(folder / "model.onnx"),
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


FINDINGS = ("effusion", "nodule", "edema", "mass")
FINDING_THRESHOLDS = (0.5, 0.6, 0.5, 0.3)
_FINDING_BIASES = (3.0, 2.0, -3.0, -2.0)  # two findings well above their thresholds, two below


CLASSES = ("normal", "benign", "malignant")
_CLASS_BIASES = (0.5, 1.5, -0.5)  # softmax about (24 %, 66 %, 9 %) on any input of its range


def build_multilabel_image_bundle(
    root: Path, *, name: str = "tiny-findings", version: str = "v1"
) -> Path:
    """One sigmoid logit per finding (``FINDINGS``, thresholds from the manifest); its head's
    biases make the first two findings positive and the last two negative."""
    output = Output(
        name="logits",
        kind="logits",
        mode="multi-label",
        labels=FINDINGS,
        thresholds=FINDING_THRESHOLDS,
    )
    description = "Four findings, each against its own threshold (test bundle)"
    return _head_bundle(root, name, version, output, _FINDING_BIASES, description)


def build_multiclass_image_bundle(
    root: Path, *, name: str = "tiny-classes", version: str = "v1"
) -> Path:
    """Three exclusive classes (``CLASSES``, softmax of logits); the head's biases make the
    second the top class, the first next."""
    output = Output(name="logits", kind="logits", labels=CLASSES)
    description = "Three classes, one of them the diagnosis (test bundle)"
    return _head_bundle(root, name, version, output, _CLASS_BIASES, description)


def _head_bundle(
    root: Path,
    name: str,
    version: str,
    output: Output,
    biases: tuple[float, ...],
    description: str,
) -> Path:
    """The small CNN with one output per label of ``output`` and head ``biases`` (they decide
    the outcome), Grad-CAM and IG by default, and ``examples/case.png`` (two bright blobs)."""
    from PIL import Image

    folder = _export_cnn(root, name, version, n_outputs=len(output.labels), biases=biases)
    (folder / "examples").mkdir(exist_ok=True)
    rows, columns = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / IMAGE_SIZE
    blobs = sum(
        np.exp(-((rows - r) ** 2 + (columns - c) ** 2) / 0.01) for r, c in ((0.3, 0.3), (0.65, 0.7))
    )
    pixels = (255 * (0.2 + 0.3 * rows + 0.5 * blobs).clip(0, 1)).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(folder / "examples" / "case.png")
    write_manifest(
        folder,
        Manifest(
            name=name,
            version=version,
            task="image-classification",
            description=description,
            input=ImageInput(
                height=IMAGE_SIZE, width=IMAGE_SIZE, channels=1, mean=(0.5,), std=(0.25,)
            ),
            output=output,
            explanations=Explanations(
                default_methods=("gradcam", "integrated_gradients"),
                parameters={"integrated_gradients": {"n_steps": 16}},
                gradcam_layer=_last_relu(folder / "model.onnx"),
            ),
        ),
    )
    return folder


RISK_RANGE = (80.0, 160.0)


def build_regression_tabular_bundle(
    root: Path, *, name: str = "tiny-risk", version: str = "v1"
) -> Path:
    """A small gradient-boosted regressor of scikit-learn's diabetes progression score (in
    "points", reference range ``RISK_RANGE``), served as an ONNX TreeEnsembleRegressor, with
    ``examples/high.json`` (above the range) and ``examples/usual.json`` (inside it)."""
    import json

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor

    data = load_diabetes()
    x, y = data.data.astype(np.float32), data.target
    regressor = GradientBoostingRegressor(n_estimators=20, max_depth=2, random_state=0).fit(x, y)
    onnx_model = convert_sklearn(
        regressor,
        initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    folder = root / name / version
    (folder / "examples").mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(onnx_model.SerializeToString())
    np.save(folder / "background.npy", x[:50])
    served = regressor.predict(x)
    rows = {
        "high": int(served.argmax()),
        "usual": int(np.abs(served - np.mean(RISK_RANGE)).argmin()),
    }
    assert served[rows["high"]] > RISK_RANGE[1]
    assert RISK_RANGE[0] <= served[rows["usual"]] <= RISK_RANGE[1]
    for example, row in rows.items():
        case = {str(n): float(v) for n, v in zip(data.feature_names, x[row], strict=True)}
        (folder / "examples" / f"{example}.json").write_text(json.dumps(case))
    write_manifest(
        folder,
        Manifest(
            name=name,
            version=version,
            task="tabular-classification",
            description="Diabetes progression one year on, as a score (test bundle)",
            model_family="tree-ensemble",
            input=TabularInput(
                features=tuple(
                    Feature(
                        name=str(n),
                        minimum=round(float(np.floor(x[:, i].min() * 10)) / 10, 1),
                        maximum=round(float(np.ceil(x[:, i].max() * 10)) / 10, 1),
                    )
                    for i, n in enumerate(data.feature_names)
                )
            ),
            output=Output(
                name=onnx_model.graph.output[0].name,
                kind="value",
                mode="regression",
                labels=("progression score",),
                unit="points",
                reference_range=RISK_RANGE,
            ),
            explanations=Explanations(
                default_methods=("tree_shap",), background_file="background.npy"
            ),
        ),
    )
    return folder
