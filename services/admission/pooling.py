"""The Grad-CAM layer: the last spatial feature map that a global average pooling reads.

A GAP + linear head reads ``[N, K, h, w]`` through one of ``GlobalAveragePool`` (torch's
legacy exporter), ``ReduceMean`` over axes 2 and 3 (the dynamo exporter; axes an attribute
before opset 18, an input from 18 on) or an ``AveragePool`` whose kernel covers the whole map.
The layer is the ONNX node that produces that map, addressed by its node name as the manifest's
``gradcam_layer`` is (the twin names each node's module after the node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

POOLS = "GlobalAveragePool, ReduceMean over axes (2, 3), or an AveragePool over the whole map"


@dataclass(frozen=True)
class PooledMap:
    layer: str | None
    tensor: str | None
    reason: str | None


def _shapes(proto: onnx.ModelProto, input_name: str, size: tuple[int, int]) -> dict[str, list]:
    """Every tensor's inferred shape with the input fixed to ``[1, C, *size]``."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for value in copy.graph.input:
        if value.name == input_name:
            dims = value.type.tensor_type.shape.dim
            dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, *size
    del copy.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, data_prop=True)
    except Exception:  # noqa: BLE001 - shape inference is best effort; pools then need GAP
        inferred = copy
    shapes: dict[str, list] = {}
    for value in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        tensor = value.type.tensor_type
        if tensor.HasField("shape"):
            shapes[value.name] = [
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            ]
    return shapes


def _constant_ints(graph: onnx.GraphProto, name: str) -> list[int] | None:
    import onnx

    for tensor in graph.initializer:
        if tensor.name == name:
            return [int(v) for v in onnx.numpy_helper.to_array(tensor).ravel()]
    for node in graph.node:
        if node.op_type == "Constant" and name in node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    array = onnx.numpy_helper.to_array(attribute.t)
                    return [int(v) for v in array.ravel()]
    return None


def _attribute(node: onnx.NodeProto, name: str) -> Any:
    import onnx

    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return None


def _pools_globally(node: onnx.NodeProto, graph: onnx.GraphProto, shape: list | None) -> bool:
    if shape is None or len(shape) != 4:
        return False
    if node.op_type == "GlobalAveragePool":
        return True
    if node.op_type == "ReduceMean":
        axes = _attribute(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = _constant_ints(graph, node.input[1])
        return axes is not None and {a % 4 for a in axes} == {2, 3}
    if node.op_type == "AveragePool":
        kernel = _attribute(node, "kernel_shape")
        pads = _attribute(node, "pads") or [0, 0, 0, 0]
        return kernel is not None and list(kernel) == shape[2:] and not any(pads)
    return False


def find_pooled_feature_map(
    proto: onnx.ModelProto, input_name: str, size: tuple[int, int]
) -> PooledMap:
    graph = proto.graph
    shapes = _shapes(proto, input_name, size)
    producers = {out: node for node in graph.node for out in node.output}
    pools = [
        node
        for node in graph.node
        if node.input and _pools_globally(node, graph, shapes.get(node.input[0]))
    ]
    if not pools:
        seen = sorted(
            {n.op_type for n in graph.node if "Pool" in n.op_type or "Reduce" in n.op_type}
        )
        return PooledMap(
            None,
            None,
            f"no global average pooling of a 4-D feature map ({POOLS}) in the graph"
            + (f"; its pooling/reduction ops: {', '.join(seen)}" if seen else "; it has none"),
        )
    pool = pools[-1]
    tensor = pool.input[0]
    producer = producers.get(tensor)
    if producer is None:
        return PooledMap(None, tensor, f"the pooled map {tensor!r} is not produced by a node")
    if not producer.name:
        return PooledMap(None, tensor, f"the node producing {tensor!r} has no name to address")
    h, w = shapes[tensor][2:]
    if h is None or w is None:
        return PooledMap(None, tensor, f"the pooled map {tensor!r} has no inferable height/width")
    return PooledMap(producer.name, tensor, None)
