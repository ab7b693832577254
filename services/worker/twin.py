"""The differentiable torch twin of a served ONNX model, converted from the same bytes.

Gradient explainers need a torch module; the worker derives it from the very ``model.onnx``
that ONNX Runtime serves, with onnx2torch, and checks the two agree on the job's input
(:func:`parity`) before any explanation is archived.

Where onnx2torch 1.5.15 falls short, this module makes up:

* It imports torchvision at import time, only for its NonMaxSuppression and RoiAlign
  converters. When torchvision cannot be imported, a stand-in whose ops raise
  :class:`ExplainerError` is placed in ``sys.modules`` just for the duration of that import.
* It has no converters for the opset-18 Reduce ops (axes became an input instead of an
  attribute, which torch's default dynamo exporter emits for ``mean``), nor for the later
  versions of ops whose only change was new tensor types (Reshape-19/21, Conv-22, ...), and
  it refuses ``Reshape(allowzero=1)``, which the dynamo exporter emits for every ``view``.
  :func:`_register_missing_converters` adds them beside onnx2torch's own.
* Its Conv and Gemm converters need weights as initializers, while the legacy exporter shares
  equal weights through ``Identity`` nodes; :func:`_inline_shared_initializers` undoes that.
"""

from __future__ import annotations

import difflib
import functools
import importlib.machinery
import sys
import types
from typing import TYPE_CHECKING, Any

import numpy as np

from services.worker.explainers.base import ExplainerError, LoadedModel

if TYPE_CHECKING:
    import torch

# Ops whose later versions only admitted new tensor types (float8, int4, bfloat16, float4,
# ...): onnx2torch's converter of the listed version applies unchanged.
_TYPE_ONLY_BUMPS: dict[str, tuple[int, tuple[int, ...]]] = {
    "Flatten": (13, (21, 23, 24, 25)),
    "Identity": (16, (19, 21, 23, 24, 25)),
    "Constant": (13, (19, 21, 23, 24, 25)),
    "Shape": (15, (19, 21, 23, 24, 25)),
    "Transpose": (13, (21, 23, 24, 25)),
    "Unsqueeze": (13, (21, 23, 24, 25)),
    "Squeeze": (21, (23, 24, 25)),
    "Conv": (11, (22,)),
    "ConvTranspose": (11, (22,)),
    "MaxPool": (12, (22,)),
    "GlobalAveragePool": (1, (22,)),
    "InstanceNormalization": (6, (22,)),
    "Dropout": (13, (22,)),
    "HardSigmoid": (6, (22,)),
    "HardSwish": (14, (22,)),
    "Elu": (6, (22,)),
    "Softplus": (1, (22,)),
}
# Opset 18 moved ``axes`` from an attribute to an input; ReduceMax/Min-20 only added bool.
_REDUCE_AXES_INPUT: dict[str, tuple[int, ...]] = {
    "ReduceMean": (18,),
    "ReduceMax": (18, 20),
    "ReduceMin": (18, 20),
    "ReduceProd": (18,),
    "ReduceL1": (18,),
    "ReduceL2": (18,),
    "ReduceLogSum": (18,),
    "ReduceLogSumExp": (18,),
    "ReduceSumSquare": (18,),
}


def _needs_torchvision(*_: Any, **__: Any) -> Any:
    raise ExplainerError(
        "this model uses NonMaxSuppression or RoiAlign, whose torch converters need "
        "torchvision, which is not installed in this worker"
    )


def _torchvision_stand_in() -> dict[str, types.ModuleType]:
    package = types.ModuleType("torchvision", "stand-in: torchvision is not installed")
    package.__spec__ = importlib.machinery.ModuleSpec("torchvision", None, is_package=True)
    ops = types.ModuleType("torchvision.ops")
    ops.__spec__ = importlib.machinery.ModuleSpec("torchvision.ops", None)
    ops.nms = ops.box_convert = ops.roi_align = _needs_torchvision  # type: ignore[attr-defined]
    package.ops = ops  # type: ignore[attr-defined]
    return {"torchvision": package, "torchvision.ops": ops}


@functools.cache
def _onnx2torch() -> types.ModuleType:
    """Import onnx2torch once (with the torchvision stand-in if needed) and extend it."""
    stand_in: dict[str, types.ModuleType] = {}
    try:
        import torchvision  # noqa: F401
    except ImportError:
        stand_in = _torchvision_stand_in()
        sys.modules.update(stand_in)
    try:
        import onnx2torch
    finally:  # onnx2torch keeps its references; nobody else should find the stand-in
        for name, module in stand_in.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    _register_missing_converters()
    return onnx2torch


def _convert_reduce_axes_input(node: Any, graph: Any) -> Any:
    """Reduce*-18: like onnx2torch's ReduceSum-13, axes must be a constant input."""
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value
    from torch import nn

    axes: list[int] | None = None
    if len(node.input_values) > 1 and node.input_values[1]:
        try:
            axes = get_const_value(node.input_values[1], graph).tolist()
        except KeyError as exc:
            message = f"{node.operation_type} with axes computed at run time"
            raise NotImplementedError(message) from exc
    module: nn.Module
    if not axes and node.attributes.get("noop_with_empty_axes", 0) == 1:
        module = nn.Identity()
    else:
        module = OnnxReduceStaticAxes(
            operation_type=node.operation_type,
            axes=axes or None,
            keepdims=node.attributes.get("keepdims", 1),
        )
    return OperationConverterResult(
        torch_module=module,
        onnx_mapping=OnnxMapping(inputs=(node.input_values[0],), outputs=node.output_values),
    )


def _convert_reshape(node: Any, graph: Any) -> Any:
    """Reshape-14+: ``allowzero=1`` (the dynamo exporter's choice) matters only for a 0 in shape."""
    from onnx2torch.node_converters.reshape import OnnxReshape
    from onnx2torch.utils.common import (
        OperationConverterResult,
        get_const_value,
        onnx_mapping_from_node,
    )

    if node.attributes.get("allowzero", 0) == 1:
        try:
            zero_free = not bool((get_const_value(node.input_values[1], graph) == 0).any())
        except KeyError:
            zero_free = False
        if not zero_free:
            raise NotImplementedError("Reshape with allowzero=1 and a computed or zero shape")
    return OperationConverterResult(
        torch_module=OnnxReshape(), onnx_mapping=onnx_mapping_from_node(node=node)
    )


def _convert_average_pool_19(node: Any, graph: Any) -> Any:
    """AveragePool-19 added ``dilations``; without them it is AveragePool-11."""
    from onnx2torch.node_converters.registry import get_converter

    if any(d != 1 for d in node.attributes.get("dilations", [])):
        raise NotImplementedError("AveragePool with dilations is not implemented")
    return get_converter("AveragePool", 11)(node, graph)


def _register_missing_converters() -> None:
    from onnx2torch.node_converters import registry

    def register(operation_type: str, version: int, converter: Any) -> None:
        try:  # a later onnx2torch may bring its own: keep it
            registry.get_converter(operation_type, version)
        except NotImplementedError:
            registry.add_converter(operation_type=operation_type, version=version)(converter)

    # add_converter refuses a second converter for Reshape-14, whose own rejects allowzero=1.
    reshape_14 = registry.OperationDescription(domain="", operation_type="Reshape", version=14)
    registry._CONVERTER_REGISTRY[reshape_14] = _convert_reshape
    for version in (19, 21, 23, 24, 25):
        register("Reshape", version, _convert_reshape)

    for operation_type, (known, versions) in _TYPE_ONLY_BUMPS.items():
        for version in versions:
            register(operation_type, version, registry.get_converter(operation_type, known))
    for operation_type, versions in _REDUCE_AXES_INPUT.items():
        for version in versions:
            register(operation_type, version, _convert_reduce_axes_input)
    for version in (19, 22):
        register("AveragePool", version, _convert_average_pool_19)


def _inline_shared_initializers(graph: Any) -> None:
    """Point consumers of ``Identity(initializer)`` at the initializer and drop the Identity.

    The legacy exporter shares equal weights (e.g. zero conv biases) through such nodes, while
    onnx2torch's Conv and Gemm converters need their weights to be initializers.
    """
    initializers = {tensor.name for tensor in graph.initializer}
    outputs = {value.name for value in graph.output}
    alias = {
        node.output[0]: node.input[0]
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in initializers
        and node.output[0] not in outputs
    }  # fmt: skip
    kept = [
        node for node in graph.node if node.op_type != "Identity" or node.output[0] not in alias
    ]
    for node in kept:
        node.input[:] = [alias.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(kept)


def load_twin(model_bytes: bytes) -> torch.nn.Module:
    """The served ONNX model as a torch ``fx.GraphModule`` in eval mode, on the CPU.

    Parameters are frozen (the twin is explained, never trained); gradients flow to inputs.
    Each ONNX node becomes a submodule named as :func:`find_layer` describes.
    """
    import onnx

    onnx2torch = _onnx2torch()
    proto = onnx.load_model_from_string(model_bytes)
    _inline_shared_initializers(proto.graph)
    try:
        twin = onnx2torch.convert(proto)
    except NotImplementedError as exc:
        raise ExplainerError(f"the model cannot be converted to torch: {exc}") from exc
    twin.eval()
    twin.requires_grad_(False)
    return twin


def parity(model: LoadedModel, x: np.ndarray) -> float:
    """Max abs difference between the served scores (ORT) and the twin's output on ``x``."""
    import torch

    if model.twin is None:
        raise ExplainerError(f"{model.manifest.name} has no differentiable twin")
    with torch.no_grad():
        inputs = torch.as_tensor(x, dtype=torch.float32, device=model.device)
        twin_scores = model.twin(inputs).double().cpu().numpy()
    return float(np.max(np.abs(model.scores(x) - twin_scores)))


def find_layer(module: torch.nn.Module, onnx_node_name: str) -> torch.nn.Module:
    """The submodule converted from the ONNX node named ``onnx_node_name``.

    onnx2torch names a node's module after the node: ``.`` becomes ``/`` and a leading ``/``
    is dropped (``/features/features.0/Conv`` -> ``features/features/0/Conv``); unnamed
    nodes take their op type with a ``_<n>`` counter. Both spellings are accepted.
    """
    from onnx import NodeProto

    generate_node_name = _onnx2torch().onnx_graph.OnnxGraph.generate_node_name
    modules = dict(module.named_modules())
    sanitised = generate_node_name(NodeProto(name=onnx_node_name, op_type="?"))
    for candidate in (onnx_node_name, sanitised):
        if candidate and candidate != "initializers" and candidate in modules:
            return modules[candidate]
    names = [name for name in modules if name and name != "initializers"]
    close = difflib.get_close_matches(sanitised, names, n=5, cutoff=0.3)
    raise ExplainerError(
        f"no layer {onnx_node_name!r} in the model (looked for {sanitised!r}); "
        f"closest layers: {', '.join(close) or ', '.join(names[:5]) or 'none'}"
    )
