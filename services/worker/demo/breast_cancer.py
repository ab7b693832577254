"""The ``breast-cancer-gbt/v1`` bundle: gradient-boosted trees on the Wisconsin breast-cancer data.

The data (569 fine-needle aspirates, 30 nuclear measurements; Street, Wolberg & Mangasarian
1993) ships inside scikit-learn, so nothing is downloaded. The model is exported with skl2onnx
as an ``ai.onnx.ml`` ``TreeEnsembleClassifier`` whose float output ``probabilities``
``[n, 2]`` follows the classifier's class order (0 = malignant, 1 = benign).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from shared.bundles.manifest import Explanations, Feature, Manifest, Output, TabularInput
from shared.bundles.registry import MODEL_FILE, write_manifest

NAME = "breast-cancer-gbt"
VERSION = "v1"
BUILDER_VERSION = "1"
SEED = 0
BACKGROUND_FILE = "background.npy"
BACKGROUND_ROWS = 100
RANGE_FACTOR = 3.0
_STATISTIC = {
    "mean": "mean over the nuclei in the image",
    "error": "standard error over the nuclei in the image",
    "worst": "mean of the three largest values over the nuclei in the image",
}


def feature_maximum(training_maximum: float) -> float:
    """The valid upper bound of a feature: ``RANGE_FACTOR`` x its training maximum, rounded up.

    Every feature is a non-negative size, shape or texture measurement, so 0 is the natural
    lower bound. The upper bound only rejects values that cannot be a measurement of this kind
    (wrong unit, a typo, a field shifted by one): three times the largest value in the training
    split leaves room for genuine outliers (in the full data set the largest value of each
    feature already lies 2.7 to 12 standard deviations above its mean) while still catching a
    value entered in a unit 10x too small. It is
    rounded up to two significant digits to read as a documented limit, not a fitted number.
    """
    value = RANGE_FACTOR * training_maximum
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.ceil(value / step - 1e-9) * step, 12)


def _description(name: str) -> str:
    if name.startswith(("mean ", "worst ")):
        statistic, measure = name.split(" ", 1)
    else:
        measure, statistic = name.rsplit(" ", 1)
    return f"{measure}: {_STATISTIC[statistic]}"


def build_breast_cancer_bundle(folder: Path) -> dict[str, float]:
    """Train, export and write the bundle into ``folder``; returns its measured accuracy."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    train, test = train_test_split(
        np.arange(len(data.target)), test_size=0.25, stratify=data.target, random_state=SEED
    )
    x = data.data.astype(np.float32)
    classifier = GradientBoostingClassifier(random_state=SEED).fit(x[train], data.target[train])

    folder.mkdir(parents=True, exist_ok=True)
    served = _export(classifier, x[test], folder / MODEL_FILE)
    accuracy = round(float(np.mean(np.argmax(served, axis=1) == data.target[test])), 4)
    parity = float(np.max(np.abs(served - classifier.predict_proba(x[test]))))

    rows = np.random.default_rng(SEED).choice(len(train), BACKGROUND_ROWS, replace=False)
    np.save(folder / BACKGROUND_FILE, x[train][np.sort(rows)])
    names = [str(name) for name in data.feature_names]
    case = test[np.flatnonzero(data.target[test] == 0)[0]]  # the first held-out malignant case
    (folder / "examples").mkdir(exist_ok=True)
    case_json = json.dumps(dict(zip(names, data.data[case].tolist(), strict=True)), indent=2)
    (folder / "examples" / "case.json").write_text(case_json + "\n")

    features = tuple(
        Feature(name=n, minimum=0.0, maximum=feature_maximum(float(m)), description=_description(n))
        for n, m in zip(names, x[train].max(axis=0), strict=True)
    )
    labels = tuple(str(data.target_names[c]) for c in classifier.classes_)
    card = {
        "builder_version": BUILDER_VERSION,
        "intended_use": "Demonstration of explanations only; not a medical device.",
        "training_data": "sklearn.datasets.load_breast_cancer (Wisconsin diagnostic, 569 cases); "
        f"stratified 75/25 split, random_state={SEED}: {len(train)} training, "
        f"{len(test)} held-out cases",
        "model": f"sklearn GradientBoostingClassifier(random_state={SEED}), default parameters",
        "held_out_accuracy": accuracy,
        "onnx_parity_max_abs_diff": parity,
        "feature_ranges": f"[0, {RANGE_FACTOR:g} x training maximum, rounded up]",
        "background": f"{BACKGROUND_ROWS} random training rows ({BACKGROUND_FILE})",
    }
    write_manifest(folder, _manifest(features, labels, card))
    return {"held_out_accuracy": accuracy}


def _export(classifier: object, x_check: np.ndarray, path: Path) -> np.ndarray:
    """Write the ONNX graph; return its probabilities on ``x_check``, checked against sklearn."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    from services.worker.demo.torch_export import ort_session

    onnx_model = convert_sklearn(
        classifier,
        initial_types=[("input", FloatTensorType([None, x_check.shape[1]]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
        name=NAME,  # the default graph name is a random uuid, which breaks byte identity
    )
    path.write_bytes(onnx_model.SerializeToString())
    (served,) = ort_session(path).run(["probabilities"], {"input": x_check})
    expected = classifier.predict_proba(x_check)  # type: ignore[attr-defined]
    np.testing.assert_allclose(served, expected, atol=1e-5, err_msg="ONNX differs from sklearn")
    return np.asarray(served)


def _manifest(features: tuple[Feature, ...], labels: tuple[str, ...], card: dict) -> Manifest:
    return Manifest(
        name=NAME,
        version=VERSION,
        task="tabular-classification",
        default=True,
        description="Gradient-boosted trees on the Wisconsin diagnostic breast-cancer data.",
        model_family="tree-ensemble",
        input=TabularInput(features=features),
        output=Output(
            name="probabilities",
            kind="probabilities",
            labels=labels,
            positive_index=labels.index("malignant"),
        ),
        explanations=Explanations(
            default_methods=("tree_shap", "kernel_shap"), background_file=BACKGROUND_FILE
        ),
        model_card=card,
    )
