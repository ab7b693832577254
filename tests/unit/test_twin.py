"""The torch twin: converted from the served ONNX bytes, it computes what ONNX Runtime does."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from numpy.testing import assert_allclose
from onnx import TensorProto, helper
from torch import nn

from services.worker.explainers.base import ExplainerError
from services.worker.twin import find_layer, load_twin, parity
from tests.unit.explainers._image_bundle import export_onnx, image_model, random_input


class _TinyCnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        h = nn.functional.avg_pool2d(h, 2).mean(dim=(2, 3), keepdim=True)
        return self.fc(h.reshape(h.shape[0], -1))


def _ort(data: bytes) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("dynamo", "opset", "new_ops"),
    [
        (False, 17, set()),
        # torch's default exporter: ReduceMean-18 (axes input), Reshape(allowzero=1)
        (True, 18, {("ReduceMean", 18), ("Reshape", 14)}),
        (True, 22, {("ReduceMean", 18), ("Reshape", 21), ("Conv", 22), ("AveragePool", 22)}),
    ],
)
def test_exports_convert_and_match_onnx_runtime(dynamo, opset, new_ops) -> None:
    data = export_onnx(_TinyCnn(), (1, 1, 16, 16), dynamo=dynamo, opset=opset)
    proto = onnx.load_model_from_string(data)
    (version,) = [o.version for o in proto.opset_import if o.domain == ""]
    since = {
        (n.op_type, onnx.defs.get_schema(n.op_type, version).since_version)
        for n in proto.graph.node
    }
    assert version == opset and new_ops <= since
    twin, session = load_twin(data), _ort(data)
    assert not twin.training
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((1, 1, 16, 16)).astype(np.float32)
        (expected,) = session.run(["scores"], {"input": x})
        with torch.no_grad():
            assert_allclose(twin(torch.from_numpy(x)).numpy(), expected, atol=1e-5, rtol=0)


def test_weights_shared_through_identity_nodes_convert() -> None:
    # eval-mode BatchNorm folds into bias-free convs as equal zero biases, which the legacy
    # exporter stores once and hands to the second conv through an Identity node
    module = nn.Sequential(
        nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
        nn.Conv2d(2, 2, 3, bias=False), nn.BatchNorm2d(2), nn.Flatten(),
    )  # fmt: skip
    data = export_onnx(module, (1, 1, 8, 8))
    assert "Identity" in {node.op_type for node in onnx.load_model_from_string(data).graph.node}
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    (expected,) = _ort(data).run(["scores"], {"input": x})
    with torch.no_grad():
        assert_allclose(load_twin(data)(torch.from_numpy(x)).numpy(), expected, atol=1e-5)


def _reduce_model(op: str, attributes: dict, axes: list[int] | None) -> bytes:
    inputs = ["x"] + (["axes"] if axes is not None else [])
    node = helper.make_node(op, inputs, ["y"], name="reduce", **attributes)
    initializers = (
        [] if axes is None else [helper.make_tensor("axes", TensorProto.INT64, [len(axes)], axes)]
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("op", "attributes", "axes"),
    [
        ("ReduceMean", {}, [1, 2]),
        ("ReduceMax", {"keepdims": 0}, [2, 0]),
        ("ReduceL2", {"keepdims": 0}, None),  # no axes: reduce everything
        ("ReduceMin", {"noop_with_empty_axes": 1}, None),  # no axes: identity
        ("ReduceLogSumExp", {}, [-1]),
    ],
)
def test_opset_18_reductions_match_onnx_runtime(op, attributes, axes) -> None:
    data = _reduce_model(op, attributes, axes)
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    (expected,) = _ort(data).run(["y"], {"x": x})
    assert_allclose(load_twin(data)(torch.from_numpy(x)).numpy(), expected, rtol=1e-6)


def test_parity_is_the_gap_between_onnx_runtime_and_the_twin(tmp_path) -> None:
    model = image_model(tmp_path, _TinyCnn(), size=16, n_classes=3)
    x = random_input(model)
    assert parity(model, x) < 1e-5
    find_layer(model.twin, "/fc/Gemm").bias.add_(0.25)  # a twin that is not the served model
    assert_allclose(parity(model, x), 0.25, rtol=1e-4)


class _Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def test_find_layer_by_onnx_node_name() -> None:
    module = _Features()
    data = export_onnx(module, (1, 1, 8, 8))
    names = [node.name for node in onnx.load_model_from_string(data).graph.node]
    assert names == ["/features/features.0/Conv", "/features/features.1/Relu"]
    twin = load_twin(data)
    conv = find_layer(twin, "/features/features.0/Conv")
    assert isinstance(conv, nn.Conv2d)
    assert torch.equal(conv.weight, module.features[0].weight)
    # onnx2torch's own spelling: "." -> "/" and no leading "/"
    assert find_layer(twin, "features/features/0/Conv") is conv


def test_find_layer_by_dynamo_node_name() -> None:
    twin = load_twin(export_onnx(_TinyCnn(), (1, 1, 16, 16), dynamo=True, opset=18))
    assert isinstance(find_layer(twin, "node_conv2d"), nn.Conv2d)


def test_missing_layer_names_the_closest_layers() -> None:
    twin = load_twin(export_onnx(_TinyCnn(), (1, 1, 16, 16)))
    with pytest.raises(ExplainerError, match=r"no layer '/conv/Conv2'.*conv/Conv"):
        find_layer(twin, "/conv/Conv2")


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="has torchvision")
def test_model_needing_torchvision_fails_clearly() -> None:
    boxes = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 2])
    selected = helper.make_tensor_value_info("selected", TensorProto.INT64, None)
    limit = helper.make_tensor("limit", TensorProto.INT64, [1], [5])
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "limit"], ["selected"])
    graph = helper.make_graph([node], "nms", [boxes, scores], [selected], [limit])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    twin = load_twin(model.SerializeToString())
    with pytest.raises(ExplainerError, match="torchvision"):
        twin(torch.rand(1, 2, 4), torch.rand(1, 1, 2))
    assert importlib.util.find_spec("torchvision") is None  # the stand-in did not leak


def _signature(schema: onnx.defs.OpSchema) -> tuple:
    return (
        sorted(schema.attributes),
        [(i.name, i.option) for i in schema.inputs],
        [(o.name, o.option) for o in schema.outputs],
    )


def test_reused_converters_are_for_unchanged_operator_signatures() -> None:
    from services.worker.twin.converters import TYPE_ONLY_BUMPS

    for op, (known, versions) in TYPE_ONLY_BUMPS.items():
        for version in versions:
            schema = onnx.defs.get_schema(op, version)
            assert schema.since_version == version, (op, version)
            assert _signature(schema) == _signature(onnx.defs.get_schema(op, known)), op
