"""Torch converters for ONNX ops that current exporters emit and onnx2torch 1.5.15 lacks.

* Later versions of ops whose only change was new tensor types (Reshape-19/21, Conv-22, ...)
  reuse onnx2torch's converter of the earlier version (:data:`TYPE_ONLY_BUMPS`); so do Cast-19+
  (``saturate`` matters only for float8) and AveragePool-19+ without dilations.
* Opset 18 moved the Reduce ops' ``axes`` from an attribute to an input (torch's dynamo
  exporter emits ReduceMean-18 for ``mean``); Split-18 added ``num_outputs``; Gelu-20 is new.
* onnx2torch's Reshape refuses ``allowzero=1``, which the dynamo exporter sets on every
  ``view``; :class:`Reshape` implements both settings and replaces it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from services.worker.twin.onnx2torch_compat import (
    Converter,
    ConvertFn,
    Delegate,
    Node,
    TorchOp,
)

# Ops whose later versions only admitted new tensor types (float8, int4, bfloat16, float4,
# ...): onnx2torch's converter of the listed version applies unchanged.
TYPE_ONLY_BUMPS: dict[str, tuple[int, tuple[int, ...]]] = {
    "Flatten": (13, (21, 23, 24, 25)),
    "Identity": (16, (19, 21, 23, 24, 25)),
    "Constant": (13, (19, 21, 23, 24, 25)),
    "ConstantOfShape": (9, (20, 21, 23, 24, 25)),
    "Equal": (13, (19,)),
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
REDUCE_AXES_INPUT: dict[str, tuple[int, ...]] = {
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
_REDUCERS = {
    "ReduceMean": lambda x, d, k: torch.mean(x, dim=d, keepdim=k),
    "ReduceMax": lambda x, d, k: torch.amax(x, dim=d, keepdim=k),
    "ReduceMin": lambda x, d, k: torch.amin(x, dim=d, keepdim=k),
    "ReduceProd": lambda x, d, k: _prod(x, d, k),
    "ReduceL1": lambda x, d, k: torch.sum(x.abs(), dim=d, keepdim=k),
    "ReduceL2": lambda x, d, k: torch.sqrt(torch.sum(x * x, dim=d, keepdim=k)),
    "ReduceLogSum": lambda x, d, k: torch.log(torch.sum(x, dim=d, keepdim=k)),
    "ReduceLogSumExp": lambda x, d, k: torch.logsumexp(x, dim=d, keepdim=k),
    "ReduceSumSquare": lambda x, d, k: torch.sum(x * x, dim=d, keepdim=k),
}


def _prod(x: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    for dim in sorted((d % x.dim() for d in dims), reverse=True):
        x = torch.prod(x, dim=dim, keepdim=keepdim)
    return x


class Reduce(nn.Module):
    """Reduce*-18 with constant ``axes`` (``None``: every axis)."""

    def __init__(self, op_type: str, axes: tuple[int, ...] | None, keepdims: bool) -> None:
        super().__init__()
        self.op_type, self.axes, self.keepdims = op_type, axes, keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axes = self.axes if self.axes is not None else tuple(range(x.dim()))
        return _REDUCERS[self.op_type](x, axes, self.keepdims)


class Reshape(nn.Module):
    """Reshape-14+: a 0 in ``shape`` copies the input's dim unless ``allowzero`` is set."""

    def __init__(self, allowzero: bool) -> None:
        super().__init__()
        self.allowzero = allowzero

    def forward(self, x: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        dims = [int(d) for d in shape.tolist()]
        if not self.allowzero:
            dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
        return torch.reshape(x, dims)


class Split(nn.Module):
    """Split-18: by the sizes in ``split``, else into ``parts`` (the last one may be smaller)."""

    def __init__(self, axis: int, parts: int) -> None:
        super().__init__()
        self.axis, self.parts = axis, parts

    def forward(
        self, x: torch.Tensor, split: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        if split is not None:
            return torch.split(x, [int(s) for s in split.tolist()], dim=self.axis)
        return torch.split(x, math.ceil(x.shape[self.axis] / self.parts), dim=self.axis)


def _reduce(node: Node) -> TorchOp:
    axes: tuple[int, ...] | None = None
    if node.has_input(1):
        constant = node.constant(1)
        if constant is None:
            raise NotImplementedError(f"{node.op_type} with axes computed at run time")
        axes = tuple(int(a) for a in constant.tolist()) or None
    module: nn.Module
    if axes is None and node.attributes.get("noop_with_empty_axes", 0) == 1:
        module = nn.Identity()
    else:
        keepdims = bool(node.attributes.get("keepdims", 1))
        module = Reduce(node.op_type, axes, keepdims)
    return TorchOp(module, node.inputs[:1], node.outputs)


def _reshape(node: Node) -> TorchOp:
    return TorchOp(Reshape(node.attributes.get("allowzero", 0) == 1), node.inputs, node.outputs)


def _split(node: Node) -> TorchOp:
    module = Split(node.attributes.get("axis", 0), len(node.outputs))
    return TorchOp(module, tuple(name for name in node.inputs if name), node.outputs)


def _gelu(node: Node) -> TorchOp:
    approximate = node.attributes.get("approximate", "none")
    return TorchOp(nn.GELU(approximate=approximate), node.inputs, node.outputs)


def _reuse(version: int) -> ConvertFn:
    def convert(node: Node) -> Delegate:
        return Delegate(version)

    return convert


def _average_pool(node: Node) -> Delegate:
    if any(d != 1 for d in node.attributes.get("dilations", [])):
        raise NotImplementedError("AveragePool with dilations is not implemented")
    return Delegate(11)


CONVERTERS: tuple[Converter, ...] = (
    Converter("Reshape", (14, 19, 21, 23, 24, 25), _reshape, replaces=(14,)),
    Converter("Gelu", (20,), _gelu),
    Converter("Split", (18,), _split),
    Converter("Cast", (19, 21, 23, 24, 25), _reuse(13)),
    Converter("AveragePool", (19, 22), _average_pool),
    *(Converter(op, versions, _reduce) for op, versions in REDUCE_AXES_INPUT.items()),
    *(Converter(op, versions, _reuse(known)) for op, (known, versions) in TYPE_ONLY_BUMPS.items()),
)
