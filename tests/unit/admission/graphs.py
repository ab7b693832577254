"""Tiny ONNX graphs built with onnx.helper for the inspection tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT


def model(nodes, inputs, outputs, initializers=(), opset: int = 17) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def image_input(shape=("batch", 1, 16, 16), name: str = "input"):
    return helper.make_tensor_value_info(name, FLOAT, list(shape))


def conv_head(
    pool: str = "gap", *, shape=("batch", 1, 16, 16), head: str | None = "Softmax"
) -> bytes:
    """Conv -> Relu -> <pool> -> Flatten -> Gemm [-> head]: a GAP + linear classifier."""
    weights = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    dense = numpy_helper.from_array(np.ones((2, 4), np.float32), "d")
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["features"], name="features_relu"),
    ]
    initializers = [weights, dense]
    if pool == "gap":
        nodes.append(helper.make_node("GlobalAveragePool", ["features"], ["p"], name="pool"))
    elif pool == "reducemean":
        initializers.append(numpy_helper.from_array(np.array([2, 3], np.int64), "axes"))
        nodes.append(
            helper.make_node("ReduceMean", ["features", "axes"], ["p"], name="pool", keepdims=1)
        )
    elif pool == "avgpool":
        nodes.append(
            helper.make_node("AveragePool", ["features"], ["p"], name="pool", kernel_shape=[16, 16])
        )
    elif pool == "none":
        nodes.append(
            helper.make_node("MaxPool", ["features"], ["p"], name="pool", kernel_shape=[16, 16])
        )
    nodes.append(helper.make_node("Flatten", ["p"], ["f"], name="flatten"))
    nodes.append(helper.make_node("Gemm", ["f", "d"], ["z"], name="fc", transB=1))
    last = "z"
    if head is not None:
        nodes.append(helper.make_node(head, ["z"], ["scores"], name="head"))
        last = "scores"
    else:
        nodes[-1].output[0] = "scores"
        last = "scores"
    output = helper.make_tensor_value_info(last, FLOAT, ["batch", 2])
    return model(
        nodes,
        [image_input(shape)],
        [output],
        initializers,
        opset=18 if pool == "reducemean" else 17,
    )


def two_inputs() -> bytes:
    a = helper.make_tensor_value_info("a", FLOAT, ["batch", 3])
    b = helper.make_tensor_value_info("b", FLOAT, ["batch", 3])
    out = helper.make_tensor_value_info("s", FLOAT, ["batch", 3])
    return model([helper.make_node("Add", ["a", "b"], ["s"], name="add")], [a, b], [out])
