"""Deterministic torch sessions and ONNX export with a parity check against ONNX Runtime."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime
    import torch

TRAINING_THREADS = 2


@contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Seed torch, force deterministic kernels and a fixed thread count; restore them after."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(TRAINING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def ort_session(path: Path) -> onnxruntime.InferenceSession:
    """A CPU session with the same fixed thread count as training."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = TRAINING_THREADS
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_onnx(model: torch.nn.Module, example: np.ndarray, path: Path, *, atol: float) -> float:
    """Export ``model`` (eval mode) with a dynamic batch axis; return max |ORT - torch|.

    Uses the legacy TorchScript exporter at opset 17 (``dynamo=False``), whose graph the
    worker's onnx2torch twin converts. Raises ``RuntimeError`` if ONNX Runtime's logits on
    ``example`` (``[n, C, H, W]`` float32) differ from torch's by more than ``atol``.
    """
    import torch

    model.eval()
    x = torch.from_numpy(example)
    with warnings.catch_warnings():
        # The legacy exporter is chosen on purpose (see the docstring); torch deprecates it.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (x,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    with torch.no_grad():
        expected = model(x).numpy()
    (served,) = ort_session(path).run(["logits"], {"input": example})
    difference = float(np.max(np.abs(served - expected)))
    if difference > atol:
        raise RuntimeError(f"ONNX Runtime differs from torch by {difference:.2e} > {atol:.0e}")
    return difference


def pooled_feature_node(path: Path) -> str:
    """The ONNX node whose output the ``GlobalAveragePool`` reads: the last conv block's output.

    This is the Grad-CAM target layer of a GAP + linear head (where Grad-CAM equals CAM).
    """
    import onnx

    graph = onnx.load(str(path)).graph
    (pool,) = [node for node in graph.node if node.op_type == "GlobalAveragePool"]
    (producer,) = [node for node in graph.node if pool.input[0] in node.output]
    return producer.name
