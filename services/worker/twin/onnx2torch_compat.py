"""The one place that knows onnx2torch's internals: import, registry, node objects.

onnx2torch 1.5.15 (verified with torch 2.13) is used through what this module exposes:

* :func:`onnx2torch` imports it. It imports torchvision at import time, only for its
  NonMaxSuppression and RoiAlign converters; when torchvision cannot be imported, a stand-in
  whose ops raise :class:`ExplainerError` sits in ``sys.modules`` just for that import.
* :func:`install` adds :class:`Converter` entries to its registry. A converter here is a plain
  function of a :class:`Node` returning a :class:`TorchOp` (a torch module and the values it
  reads and writes) or a :class:`Delegate` (use onnx2torch's converter of another version).
* :func:`convert` and :func:`module_name` wrap its ``convert`` and its module naming.
* Two of its functions are replaced (:data:`PATCHED` keeps the originals): module naming,
  which keeps the dots of a node's domain (``ai.onnx.ml/Scaler``), which torch refuses in a
  module name; and slicing, which indexes with a list of slices, deprecated in torch.
* Its ``convert`` returns a node's whole output tuple for a graph output that is one of
  several outputs of a node (skl2onnx's ``label``); :func:`convert` first routes each such
  output through an ``Identity`` of its own.

``tests/unit/test_twin_compat.py`` checks every assumption made here against the installed
onnx2torch and torch, and says what to re-check when they change.
"""

from __future__ import annotations

import functools
import importlib.machinery
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from services.worker.explainers.base import ExplainerError

if TYPE_CHECKING:
    import onnx
    import torch

VERIFIED_ONNX2TORCH = "1.5.15"
VERIFIED_TORCH = "2.13"
# What onnx2torch 1.5.15 takes from torchvision (module, attribute), all in nms.py/roialign.py.
TORCHVISION_USES = frozenset({("ops", "nms"), ("ops", "box_convert"), ("ops", "roi_align")})


@dataclass(frozen=True)
class Node:
    """An ONNX node as a converter sees it; ``constants`` holds its inputs known at build time."""

    op_type: str
    attributes: Mapping[str, Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    constants: Mapping[str, torch.Tensor]

    def constant(self, index: int) -> torch.Tensor | None:
        """Input ``index`` if it is given and constant, else ``None``."""
        if index >= len(self.inputs) or not self.inputs[index]:
            return None
        return self.constants.get(self.inputs[index])

    def has_input(self, index: int) -> bool:
        return index < len(self.inputs) and bool(self.inputs[index])


@dataclass(frozen=True)
class TorchOp:
    """A converted node: ``module`` is called with the values ``inputs`` and writes ``outputs``."""

    module: torch.nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Delegate:
    """Convert the node with onnx2torch's own converter for ``version`` of the same op."""

    version: int


ConvertFn = Callable[[Node], "TorchOp | Delegate"]


@dataclass(frozen=True)
class Converter:
    """``convert`` for ``op_type`` at each of ``versions`` (the ONNX ``since_version``s).

    ``replaces`` names versions whose onnx2torch converter is replaced, not just added to.
    """

    op_type: str
    versions: tuple[int, ...]
    convert: ConvertFn
    domain: str = ""
    replaces: tuple[int, ...] = field(default=())


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
    for _, attribute in TORCHVISION_USES:
        setattr(ops, attribute, _needs_torchvision)
    package.ops = ops  # type: ignore[attr-defined]
    return {"torchvision": package, "torchvision.ops": ops}


@functools.cache
def onnx2torch() -> types.ModuleType:
    """onnx2torch, imported once (with the torchvision stand-in where torchvision is missing)."""
    stand_in: dict[str, types.ModuleType] = {}
    try:
        import torchvision  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        stand_in = _torchvision_stand_in()
        sys.modules.update(stand_in)
    try:
        import onnx2torch as module
    finally:  # onnx2torch keeps its references; nobody else should find the stand-in
        for name, stub in stand_in.items():
            if sys.modules.get(name) is stub:
                del sys.modules[name]
    _UPSTREAM.update(module.node_converters.registry._CONVERTER_REGISTRY)
    _patch(module)
    return module


def _node_name(node: onnx.NodeProto) -> str:
    """onnx2torch's module name for ``node``, with the domain's dots replaced too."""
    return f"{node.domain}/{node.name or node.op_type}".replace(".", "/").lstrip("/")


def _do_slice(
    x: torch.Tensor, flip_dims: list[int], positive: list[Any], negative: list[Any]
) -> Any:
    """onnx2torch's slicing, indexing with tuples of slices."""
    import torch

    if flip_dims:
        x = torch.flip(x, dims=flip_dims)
    if positive:
        x = x[tuple(positive)]
    if negative:
        x = x[tuple(negative)]
    return x


# (module, attribute) -> onnx2torch's original, replaced by :func:`_patch`.
PATCHED: dict[tuple[str, str], Any] = {}


def _patch(module: types.ModuleType) -> None:
    graph, slicing = module.onnx_graph.OnnxGraph, module.node_converters.slice
    PATCHED[("onnx2torch.onnx_graph.OnnxGraph", "generate_node_name")] = graph.generate_node_name
    PATCHED[("onnx2torch.node_converters.slice", "_do_slice")] = slicing._do_slice
    graph.generate_node_name = staticmethod(_node_name)
    slicing._do_slice = _do_slice


# onnx2torch's registry as it was before :func:`install` added to it.
_UPSTREAM: dict[Any, Callable[..., Any]] = {}


def upstream_has(op_type: str, version: int, domain: str = "") -> bool:
    """Whether onnx2torch itself registers a converter for exactly this op version."""
    registry = onnx2torch().node_converters.registry
    return registry.OperationDescription(domain, op_type, version) in _UPSTREAM


def upstream_converter(op_type: str, version: int, domain: str = "") -> Callable[..., Any]:
    """onnx2torch's own converter for exactly this op version (``KeyError`` if none)."""
    registry = onnx2torch().node_converters.registry
    return _UPSTREAM[registry.OperationDescription(domain, op_type, version)]


def _adapt(converter: Converter, version: int) -> Callable[[Any, Any], Any]:
    import torch
    from onnx2torch.utils.common import (
        OnnxMapping,
        OperationConverterResult,
        get_const_value,
    )

    def convert(onnx_node: Any, graph: Any) -> Any:
        constants = {}
        for name in filter(None, onnx_node.input_values):
            try:
                constants[name] = torch.as_tensor(get_const_value(name, graph))
            except KeyError:  # computed at run time
                continue
        node = Node(
            op_type=onnx_node.operation_type,
            attributes=dict(onnx_node.attributes),
            inputs=tuple(onnx_node.input_values),
            outputs=tuple(onnx_node.output_values),
            constants=constants,
        )
        result = converter.convert(node)
        if isinstance(result, Delegate):
            return upstream_converter(node.op_type, result.version, converter.domain)(
                onnx_node, graph
            )
        mapping = OnnxMapping(inputs=result.inputs, outputs=result.outputs)
        return OperationConverterResult(torch_module=result.module, onnx_mapping=mapping)

    convert.__name__ = f"convert_{converter.op_type}_{version}"
    return convert


def install(converters: Sequence[Converter]) -> None:
    """Add ``converters`` to onnx2torch's registry; where it has its own, keep that one."""
    registry = onnx2torch().node_converters.registry
    for converter in converters:
        for version in converter.versions:
            key = registry.OperationDescription(converter.domain, converter.op_type, version)
            if version in converter.replaces or key not in _UPSTREAM:
                registry._CONVERTER_REGISTRY[key] = _adapt(converter, version)


def _single_output_producers(graph: onnx.GraphProto) -> None:
    """Give each graph output written by a node with several outputs an ``Identity`` node."""
    from onnx import helper

    outputs = {value.name for value in graph.output}
    renamed: dict[str, str] = {}
    for node in graph.node:
        if len(node.output) > 1:
            for index, name in enumerate(node.output):
                if name in outputs:
                    renamed[name] = node.output[index] = f"{name}__before_output"
    for node in graph.node:  # consumers inside the graph read the value before the Identity
        node.input[:] = [renamed.get(name, name) for name in node.input]
    graph.node.extend(helper.make_node("Identity", [old], [name]) for name, old in renamed.items())


def convert(proto: onnx.ModelProto) -> torch.fx.GraphModule:
    """onnx2torch's conversion; ``NotImplementedError`` names an op it cannot convert."""
    _single_output_producers(proto.graph)
    module: torch.fx.GraphModule = onnx2torch().convert(proto)
    return module


def module_name(onnx_node_name: str) -> str:
    """The name onnx2torch gives the module converted from the node ``onnx_node_name``."""
    from onnx import NodeProto

    graph = onnx2torch().onnx_graph.OnnxGraph
    return str(graph.generate_node_name(NodeProto(name=onnx_node_name, op_type="?")))
