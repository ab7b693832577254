"""The differentiable torch twin of a served ONNX model, converted from the same bytes.

Gradient explainers need a torch module; the worker derives it from the very ``model.onnx``
that ONNX Runtime serves, with onnx2torch, and checks the two agree on the job's input
(:func:`parity`) before any explanation is archived.

This package's face is :func:`load_twin`, :func:`parity` and :func:`find_layer`. What it needs
from onnx2torch's internals lives in :mod:`.onnx2torch_compat`; the converters it adds for
ops onnx2torch lacks are in :mod:`.converters`, :mod:`.attention` and :mod:`.ml_converters`.
"""

from __future__ import annotations

import difflib
import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from services.worker.explainers.base import ExplainerError, LoadedModel

if TYPE_CHECKING:
    import torch

__all__ = ["find_layer", "load_twin", "parity"]


@functools.cache
def _converters_installed() -> None:
    from services.worker.twin import attention, converters, ml_converters, onnx2torch_compat

    onnx2torch_compat.install(
        converters.CONVERTERS + attention.CONVERTERS + ml_converters.CONVERTERS
    )


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

    from services.worker.twin.onnx2torch_compat import convert

    _converters_installed()
    proto = onnx.load_model_from_string(model_bytes)
    _inline_shared_initializers(proto.graph)
    try:
        twin = convert(proto)
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
    from services.worker.twin.onnx2torch_compat import module_name

    modules = dict(module.named_modules())
    sanitised = module_name(onnx_node_name)
    for candidate in (onnx_node_name, sanitised):
        if candidate and candidate != "initializers" and candidate in modules:
            return modules[candidate]
    names = [name for name in modules if name and name != "initializers"]
    close = difflib.get_close_matches(sanitised, names, n=5, cutoff=0.3)
    raise ExplainerError(
        f"no layer {onnx_node_name!r} in the model (looked for {sanitised!r}); "
        f"closest layers: {', '.join(close) or ', '.join(names[:5]) or 'none'}"
    )
