"""Each converter the twin adds to onnx2torch computes what ONNX Runtime computes."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime
import pytest
import torch
from numpy.testing import assert_allclose
from onnx import TensorProto, helper
from torch import nn

from services.worker.explainers.base import ExplainerError
from services.worker.twin import load_twin
from services.worker.twin.converters import REDUCE_AXES_INPUT
from services.worker.twin.onnx2torch_compat import upstream_has
from tests.unit.twin.export import EXPORTERS, export, op_versions, twin_gap

FLOAT = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers=(), opset=20) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model.SerializeToString()


def _io(name: str, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _ints(name: str, values: list[int]):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def _both(data: bytes, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        got = load_twin(data)(torch.from_numpy(x))
    got = list(got) if isinstance(got, tuple | list) else [got]
    return [g.numpy() for g in got], expected


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_20(approximate) -> None:
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    data = _model([node], [_io("x", [2, 50])], [_io("y", [2, 50])])
    x = np.linspace(-6, 6, 100, dtype=np.float32).reshape(2, 50)
    (got,), (expected,) = _both(data, x)
    assert_allclose(got, expected, atol=1e-6, rtol=0)
    erf = 0.5 * x * (1 + np.vectorize(math.erf)(x.astype(np.float64) / math.sqrt(2)))
    tanh = (
        0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.astype(np.float64) ** 3)))
    )
    assert_allclose(got, erf if approximate == "none" else tanh, atol=1e-6, rtol=0)
    assert np.max(np.abs(tanh - erf)) > 1e-4  # the two forms are told apart


@pytest.mark.parametrize("op", sorted(REDUCE_AXES_INPUT))
@pytest.mark.parametrize(("axes", "keepdims"), [([0, 2], 1), ([-1], 0), ([], 0)])
def test_reduce_18_with_axes_input(op, axes, keepdims) -> None:
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)
    data = _model([node], [_io("x", [2, 3, 4])], [_io("y", None)], [_ints("axes", axes)], 18)
    x = np.abs(_rand(2, 3, 4)) + 0.5  # positive: ReduceLogSum
    (got,), (expected,) = _both(data, x)
    assert got.shape == expected.shape
    assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("opset", [19, 21, 23])
@pytest.mark.parametrize(
    ("allowzero", "shape", "out"),
    [(1, [4, -1], (4, 6)), (0, [0, -1], (2, 12)), (1, [2, 3, 4], None)],
)
def test_reshape(opset, allowzero, shape, out) -> None:
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=allowzero)
    data = _model([node], [_io("x", [2, 3, 4])], [_io("y", None)], [_ints("shape", shape)], opset)
    (got,), (expected,) = _both(data, _rand(2, 3, 4))
    assert got.shape == expected.shape == (out or tuple(shape))
    assert_allclose(got, expected)


def test_reshape_to_a_shape_computed_at_run_time() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], start=0, end=1),
        helper.make_node("Concat", ["s", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"], allowzero=1),
    ]
    data = _model(nodes, [_io("x", ["b", 3, 4])], [_io("y", None)], [_ints("minus_one", [-1])], 21)
    for batch in (1, 3):
        (got,), (expected,) = _both(data, _rand(batch, 3, 4))
        assert got.shape == (batch, 12)
        assert_allclose(got, expected)


@pytest.mark.parametrize(("split", "sizes"), [(None, (3, 3, 1)), ([2, 5], (2, 5))])
def test_split_18(split, sizes) -> None:
    outputs = [f"y{i}" for i in range(len(sizes))]
    inputs = ["x"] + (["split"] if split else [])
    attributes = {} if split else {"num_outputs": len(sizes)}
    node = helper.make_node("Split", inputs, outputs, axis=1, **attributes)
    init = [_ints("split", split)] if split else []
    data = _model([node], [_io("x", [2, 7])], [_io(o, None) for o in outputs], init, 18)
    got, expected = _both(data, _rand(2, 7))
    assert [g.shape[1] for g in got] == [e.shape[1] for e in expected] == list(sizes)
    for g, e in zip(got, expected, strict=True):
        assert_allclose(g, e)


@pytest.mark.parametrize("opset", [19, 21, 23])
def test_cast(opset) -> None:
    nodes = [
        helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT64),
        helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT),
    ]
    data = _model(nodes, [_io("x", [6])], [_io("y", [6])], opset=opset)
    x = np.array([-2.7, -0.5, 0.0, 0.4, 1.9, 3.0], dtype=np.float32)
    (got,), (expected,) = _both(data, x)
    assert_allclose(got, expected)
    assert_allclose(got, [-2, 0, 0, 0, 1, 3])


@pytest.mark.parametrize("opset", [19, 22])
def test_average_pool_19(opset) -> None:
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    data = _model([node], [_io("x", [1, 2, 6, 6])], [_io("y", None)], opset=opset)
    (got,), (expected,) = _both(data, _rand(1, 2, 6, 6))
    assert_allclose(got, expected, rtol=1e-6)


def test_average_pool_with_dilations_is_refused_clearly() -> None:
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])
    data = _model([node], [_io("x", [1, 1, 6, 6])], [_io("y", None)], opset=19)
    with pytest.raises(ExplainerError, match="dilations"):
        load_twin(data)


class _Block(nn.Module):
    """A pre-norm transformer block with a classifier: LayerNorm, a 3-way split, batched
    MatMul, Softmax on the last axis, both GELUs, a mask (Where), Expand and a computed shape."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.norm1, self.norm2 = nn.LayerNorm(8), nn.LayerNorm(8)
        self.qkv = nn.Linear(8, 24)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.head = nn.Sequential(nn.GELU(approximate="tanh"), nn.Linear(8 * 5, 3))
        self.cls = nn.Parameter(torch.randn(1, 1, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(8)
        causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
        attention = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        x = x + attention @ v
        x = x + self.mlp(self.norm2(x))
        return self.head(x.reshape(x.shape[0], -1))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_transformer_block_from_both_exporters(exporter) -> None:
    data = export(_Block(), torch.zeros(2, 4, 8), exporter)
    ops = {op for op, _ in op_versions(data)}
    assert {"LayerNormalization", "MatMul", "Softmax", "Where"} <= ops
    assert ("Gelu" in ops) == (exporter == "dynamo")  # legacy-17 spells it with Erf and Tanh
    assert twin_gap(data, [_rand(1, 4, 8), _rand(3, 4, 8, seed=1)]) <= 1e-5


class _Sdpa(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.qkv, self.head = nn.Linear(8, 24), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n = x.shape[0], x.shape[1]
        q, k, v = (t.reshape(b, n, 2, 4).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.head(y.transpose(1, 2).reshape(b, n, 8).mean(dim=1))


@pytest.mark.parametrize(
    ("module", "opset", "added"),
    [
        (_Block, 18, {("Split", 18)}),
        (_Block, 23, {("Gelu", 20), ("Reshape", 23), ("Shape", 23), ("Transpose", 23)}),
        (_Sdpa, 23, {("Attention", 23), ("ReduceMean", 18), ("Reshape", 23)}),
    ],
)
def test_dynamo_exports_at_later_opsets(module, opset, added) -> None:
    tokens = 4 if module is _Block else 5  # _Block prepends a class token
    data = export(module(), torch.zeros(2, tokens, 8), "dynamo", opset)
    assert added <= {(op, v) for op, v in op_versions(data) if not upstream_has(op, v)}
    assert twin_gap(data, [_rand(1, tokens, 8), _rand(3, tokens, 8, seed=1)]) <= 1e-5


def _attention_model(q_shape, kv_shape, mask=None, **attributes) -> bytes:
    inputs = [_io("q", q_shape), _io("k", kv_shape), _io("v", kv_shape)]
    names = ["q", "k", "v"]
    initializers = []
    if mask is not None:
        names.append("mask")
        elem = TensorProto.BOOL if mask.dtype == bool else FLOAT
        initializers.append(helper.make_tensor("mask", elem, mask.shape, mask.ravel().tolist()))
    node = helper.make_node("Attention", names, ["y"], **attributes)
    return _model([node], inputs, [_io("y", None)], initializers, opset=23)


_CAUSAL_BAND = np.tril(np.ones((5, 5), dtype=bool)) & ~np.tril(np.ones((5, 5), dtype=bool), -3)


@pytest.mark.parametrize(
    ("q_shape", "kv_shape", "mask", "attributes"),
    [
        ((2, 4, 5, 3), (2, 4, 5, 3), None, {}),
        ((2, 4, 5, 3), (2, 2, 5, 3), None, {"is_causal": 1, "scale": 0.3}),  # grouped heads
        ((2, 4, 5, 3), (2, 4, 5, 3), _CAUSAL_BAND, {}),
        ((2, 4, 5, 3), (2, 4, 5, 3), _rand(5, 5, seed=3), {"is_causal": 1}),
        ((2, 5, 12), (2, 5, 6), None, {"q_num_heads": 4, "kv_num_heads": 2}),  # 3D
    ],
)
def test_attention_23(q_shape, kv_shape, mask, attributes) -> None:
    data = _attention_model(q_shape, kv_shape, mask, **attributes)
    q, k, v = _rand(*q_shape), _rand(*kv_shape, seed=1), _rand(*kv_shape, seed=2)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"q": q, "k": k, "v": v})
    with torch.no_grad():
        got = load_twin(data)(*(torch.from_numpy(t) for t in (q, k, v)))
    assert got.shape == expected.shape
    assert_allclose(got.numpy(), expected, atol=1e-6, rtol=0)


def test_attention_with_softcap_is_refused_clearly() -> None:
    data = _attention_model((1, 2, 3, 4), (1, 2, 3, 4), softcap=30.0)
    with pytest.raises(ExplainerError, match="softcap"):
        load_twin(data)
