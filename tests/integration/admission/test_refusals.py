"""Admission errors: each names the failing step and the ONNX node or field, and exits 1."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from tests.integration.admission.conftest import methods_of
from tests.unit.admission.graphs import conv_head, two_inputs


def _unrunnable() -> bytes:
    """Valid for onnx.checker (com.microsoft schemas are ORT's), but no kernel in ORT."""
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])
    node = helper.make_node(
        "NoSuchKernel", ["input"], ["scores"], name="mystery", domain="com.microsoft"
    )
    graph = helper.make_graph([node], "g", [x], [y])
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    proto.ir_version = 8
    return proto.SerializeToString()


def _write(tmp_path, data: bytes, name: str = "model.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_model_onnx_runtime_cannot_run(add, tmp_path, background_csv) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c\n1,2,3\n4,5,6\n")
    added = add(
        _write(tmp_path, _unrunnable()), "--name", "m", "--version", "v1", "--labels", "x,y,z",
        "--background", str(rows), "--bundles-dir", str(tmp_path / "bundles"),
    )  # fmt: skip
    assert added.code == 1
    assert "admission failed at step 'onnxruntime' [mystery]" in added.err
    assert "NoSuchKernel" in added.err
    assert added.report["failed_step"] == "onnxruntime" and not added.report["passed"]
    assert not (tmp_path / "bundles" / "m" / "v1").exists()  # a refused model is not served


def test_a_model_with_two_inputs(add, tmp_path) -> None:
    added = add(
        _write(tmp_path, two_inputs()), "--name", "m", "--version", "v1", "--labels", "a,b,c",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 1
    assert "inspect [graph.input]: the model takes 2 inputs (a, b); one is served" in added.err


def test_a_dynamic_image_without_a_declared_size(add, tmp_path) -> None:
    path = _write(tmp_path, conv_head("gap", shape=("batch", 1, "h", "w")))
    common = ["--name", "m", "--version", "v1", "--labels", "a,b", "--bundles-dir", str(tmp_path)]
    refused = add(path, *common)
    assert refused.code == 1
    assert "draft [input]" in refused.err and "--input-size H,W" in refused.err
    admitted = add(path, *common, "--input-size", "16,16")
    assert admitted.code == 0, admitted.err
    assert methods_of(admitted.report)["gradcam"]["available"]


def test_an_image_graph_without_pooling_is_admitted_without_gradcam(add, tmp_path) -> None:
    added = add(
        _write(tmp_path, conv_head("none")), "--name", "m", "--version", "v1", "--labels", "a,b",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    gradcam = methods_of(added.report)["gradcam"]
    assert not gradcam["available"]
    assert gradcam["reason"].startswith("no Grad-CAM layer: no global average pooling")
    assert "MaxPool" in gradcam["reason"]
    assert methods_of(added.report)["integrated_gradients"]["available"]


def test_a_version_is_immutable(add, tmp_path) -> None:
    common = ["--name", "m", "--version", "v1", "--labels", "a,b", "--bundles-dir", str(tmp_path)]
    assert add(_write(tmp_path, conv_head("gap"), "one.onnx"), *common).code == 0
    assert add(_write(tmp_path, conv_head("gap"), "same.onnx"), *common).code == 0
    other = conv_head("gap", head=None)
    refused = add(_write(tmp_path, other, "other.onnx"), *common)
    assert refused.code == 1
    assert "already holds a different model.onnx; versions are immutable" in refused.err
    assert (tmp_path / "m" / "v1" / "model.onnx").read_bytes() == conv_head("gap")


def test_validate_names_a_broken_manifest_field(tmp_path, capsys) -> None:
    from services.cli.main import main

    folder = tmp_path / "m" / "v1"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(conv_head("gap"))
    (folder / "manifest.json").write_text('{"name": "m", "version": "v1", "task": "x"}')
    assert main(["models", "validate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "admission failed at step 'manifest' [manifest.json]" in err and "task" in err
    assert onnx.load_model_from_string(conv_head("gap"))  # the model itself is fine
