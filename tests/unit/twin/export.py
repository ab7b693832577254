"""Export a torch module with either of torch's ONNX exporters and compare twin and ORT."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime
import torch

from services.worker.twin import load_twin

EXPORTERS = ("legacy-17", "dynamo")


def export(
    module: torch.nn.Module, example: torch.Tensor, exporter: str, opset: int | None = None
) -> bytes:
    """``module`` as ONNX with a dynamic batch axis: ``legacy-17`` is the TorchScript exporter
    at opset 17, ``dynamo`` torch's default exporter at ``opset`` (default: its own)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "legacy-17":
            torch.onnx.export(
                module.eval(), (example,), buffer, dynamo=False, opset_version=17,
                input_names=["input"], output_names=["scores"],
                dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
            )  # fmt: skip
        else:
            torch.onnx.export(
                module.eval(), (example,), buffer, dynamo=True, verbose=False, opset_version=opset,
                input_names=["input"], output_names=["scores"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},),
            )  # fmt: skip
    return buffer.getvalue()


def op_versions(data: bytes) -> set[tuple[str, int]]:
    """(op type, since_version) of every node in the ONNX model."""
    proto = onnx.load_model_from_string(data)
    opsets = {o.domain: o.version for o in proto.opset_import}
    return {
        (
            node.op_type,
            onnx.defs.get_schema(node.op_type, opsets[node.domain], node.domain).since_version,
        )
        for node in proto.graph.node
    }


def twin_gap(data: bytes, inputs: list[np.ndarray]) -> float:
    """Max |twin - ORT| of the first output over ``inputs``."""
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    twin = load_twin(data)
    gap = 0.0
    for x in inputs:
        expected = session.run(None, {name: x})[0]
        with torch.no_grad():
            got = twin(torch.from_numpy(x))
        got = got[0] if isinstance(got, tuple | list) else got
        assert got.shape == expected.shape
        gap = max(gap, float(np.max(np.abs(got.numpy() - expected))))
    return gap
