"""A CNN that onnx2torch cannot convert is admitted all the same: ONNX Runtime runs it, the
gradient methods are unavailable with the converter onnx2torch lacks as the reason, and
Superpixel SHAP explains it through ORT alone, in admission and in a live worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from services.admission.methods import run_methods
from services.worker.explainers import ExplainerError, LoadedModel
from services.worker.twin import load_twin
from shared.bundles.registry import Bundle, load_bundle
from shared.methods import METHODS
from shared.methods.quality import ADDITIVITY_BOUND, uses_twin
from tests.integration.admission.conftest import Added, methods_of
from tests.support import inputs
from tests.support.live import live_api
from tests.support.processes import wait_final

pytestmark = pytest.mark.slow

MISSING_OP = "Shrink"
"""An activation ONNX Runtime runs and onnx2torch 1.5.15 has no converter for."""
GRADIENT_METHODS = [name for name, spec in METHODS.items() if uses_twin(spec.quality)]


def shrink_cnn(path: Path, size: int = 32) -> Path:
    """Conv -> Shrink -> GlobalAveragePool -> Gemm -> Softmax, written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, shape: tuple[int, ...], scale: float) -> onnx.TensorProto:
        array = (rng.standard_normal(shape) * scale).astype(np.float32)
        return numpy_helper.from_array(array, name)

    node = helper.make_node
    graph = helper.make_graph(
        [
            node(
                "Conv",
                ["image", "conv.w", "conv.b"],
                ["c"],
                name="/conv/Conv",
                pads=[1, 1, 1, 1],
                kernel_shape=[3, 3],
            ),
            node(MISSING_OP, ["c"], ["s"], name="/act/Shrink", lambd=0.1),
            node("GlobalAveragePool", ["s"], ["g"], name="/pool/GlobalAveragePool"),
            node("Flatten", ["g"], ["f"], name="/flatten/Flatten"),
            node("Gemm", ["f", "fc.w", "fc.b"], ["logits"], name="/fc/Gemm", transB=1),
            node("Softmax", ["logits"], ["probabilities"], name="/softmax/Softmax", axis=1),
        ],  # fmt: skip
        "shrink-cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [
            weight("conv.w", (4, 1, 3, 3), 0.5),
            weight("conv.b", (4,), 0.1),
            weight("fc.w", (2, 4), 1.0),
            weight("fc.b", (2,), 0.0),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = shrink_cnn(tmp_path_factory.mktemp("twin-free") / "shrink-cnn.onnx")
    with pytest.raises(ExplainerError, match=MISSING_OP):  # else pick another missing op
        load_twin(path.read_bytes())
    return path


def _add(add: Callable[..., Added], model_file: Path, bundles: Path) -> Added:
    return add(
        model_file, "--name", "shrink-cnn", "--version", "v1", "--labels", "normal,finding",
        "--bundles-dir", str(bundles),
    )  # fmt: skip


def test_a_model_without_a_twin_is_admitted_with_superpixel_shap_only(
    add, model_file, tmp_path
) -> None:
    added = _add(add, model_file, tmp_path)
    assert added.code == 0, added.err
    report = added.report
    assert report is not None and report["passed"] and report["failed_step"] is None
    (twin_step,) = [s for s in report["steps"] if s["step"] == "torch twin parity"]
    assert twin_step["ok"] and f"no converter for {MISSING_OP}" in twin_step["detail"]
    assert report["parity"] == {}
    methods = methods_of(report)
    assert GRADIENT_METHODS == ["integrated_gradients", "gradcam", "saliency", "smoothgrad"]
    for name in GRADIENT_METHODS:
        assert not methods[name]["available"], methods[name]
        lacks = f"no usable torch twin: onnx2torch has no converter for {MISSING_OP} ("
        assert methods[name]["reason"].startswith(lacks)
    available = [name for name, line in methods.items() if line["available"]]
    assert available == ["superpixel_shap"]
    line = methods["superpixel_shap"]
    assert line["bounds"] == {"superpixel_additivity_error": ADDITIVITY_BOUND}
    # shap's regression imposes the sum exactly: what is left is float32 storage.
    assert line["quality"]["superpixel_additivity_error"] <= 1e-6
    assert abs(line["quality"]["score"] - line["quality"]["baseline_score"]) > 1e-2
    manifest = load_bundle(tmp_path / "shrink-cnn" / "v1").manifest
    assert manifest.explanations.gradcam_layer is not None  # inspection found the pooled map
    # none of the drafted defaults (IG, Grad-CAM) works: the default is what admission found
    assert manifest.explanations.default_methods == ("superpixel_shap",)


def test_gradient_methods_without_a_twin_are_unavailable_with_the_reason_given(
    model_file, tmp_path
) -> None:
    """The same line for a twin that converted but failed parity: its reason is passed on."""
    import onnxruntime as ort

    bundle = _bundle(model_file, tmp_path)
    session = ort.InferenceSession(bundle.read_model_bytes(), providers=["CPUExecutionProvider"])
    model = LoadedModel(bundle=bundle, session=session, twin=None)
    reason = "the torch twin differs from ONNX Runtime by 0.3 > 0.0001 on 'probabilities'"
    x = np.full((1, 1, 32, 32), 0.5, np.float32)
    found = run_methods(model, x, 1, gradcam_reason=None, twin_reason=reason)
    lines = {line["method"]: line for line in found}
    for name in GRADIENT_METHODS:
        assert lines[name] == {
            "method": name,
            "available": False,
            "reason": f"no usable torch twin: {reason}",
        }
    assert lines["superpixel_shap"]["available"]


def _bundle(model_file: Path, tmp_path: Path) -> Bundle:
    from shared.bundles.manifest import Explanations, ImageInput, Manifest, Output
    from shared.bundles.registry import MODEL_FILE, write_manifest

    folder = tmp_path / "b" / "shrink-cnn" / "v1"
    folder.mkdir(parents=True)
    (folder / MODEL_FILE).write_bytes(model_file.read_bytes())
    write_manifest(
        folder,
        Manifest(
            name="shrink-cnn", version="v1", task="image-classification", input_name="image",
            input=ImageInput(height=32, width=32),
            output=Output(name="probabilities", kind="probabilities", labels=("a", "b")),
            explanations=Explanations(gradcam_layer="/act/Shrink"),
        ),
    )  # fmt: skip
    return load_bundle(folder)


def test_a_live_worker_explains_it_through_onnx_runtime_alone(add, model_file, tmp_path) -> None:
    bundles = tmp_path / "bundles"
    assert _add(add, model_file, bundles).code == 0
    with live_api(bundles, tmp_path, worker=True) as api:
        response = api.client.post(
            "/v1/predictions",
            files={"file": ("x.png", inputs.gray_png(32))},
            data={"model": "shrink-cnn", "methods": "superpixel_shap"},
        )
        assert response.status_code == 201, response.text
        (job,) = response.json()["explanations"]
        done = wait_final(api.client, job["id"])
    assert done["status"] == "succeeded", done
    quality = done["result"]["quality"]
    assert quality["superpixel_additivity_error"] <= 1e-6
    assert "parity_max_abs_diff" not in quality  # no twin was asked
    assert done["result"]["attributions"]["shape"] == [1, 32, 32]
