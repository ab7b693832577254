"""Tiny image models served the real way: exported to ONNX, bundled, ORT session and twin."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from services.worker.explainers.base import LoadedModel
from services.worker.twin import load_twin
from shared.bundles.manifest import Explanations, ImageInput, Manifest, Output
from shared.bundles.registry import MODEL_FILE, load_bundle, write_manifest


def export_onnx(
    module: torch.nn.Module,
    shape: tuple[int, ...],
    *,
    dynamo: bool = False,
    opset: int = 17,
    dynamic_batch: bool = True,
) -> bytes:
    """``module`` as ONNX bytes; the legacy exporter by default, like the demo bundles."""
    buffer = io.BytesIO()
    batch_axes = {"input": {0: "batch"}, "scores": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            (torch.zeros(shape),),
            buffer,
            dynamo=dynamo,
            opset_version=opset,
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes=batch_axes if dynamic_batch and not dynamo else None,
            verbose=False,
        )
    return buffer.getvalue()


def image_model(
    tmp_path: Path,
    module: torch.nn.Module,
    *,
    channels: int = 1,
    size: int = 8,
    n_classes: int = 2,
    gradcam_layer: str | None = None,
    baseline: str = "black",
    mean: float = 0.0,
    std: float = 1.0,
    dynamic_batch: bool = True,
) -> LoadedModel:
    """A bundle ``tiny/1`` under ``tmp_path`` serving ``module`` (logits), loaded for the worker."""
    folder = tmp_path / "bundles" / "tiny" / "1"
    folder.mkdir(parents=True)
    data = export_onnx(module, (1, channels, size, size), dynamic_batch=dynamic_batch)
    (folder / MODEL_FILE).write_bytes(data)
    manifest = Manifest(
        name="tiny",
        version="1",
        task="image-classification",
        input=ImageInput(
            height=size,
            width=size,
            channels=channels,
            mean=(mean,) * channels,
            std=(std,) * channels,
        ),
        output=Output(
            name="scores", kind="logits", labels=tuple(f"c{i}" for i in range(n_classes))
        ),
        explanations=Explanations(gradcam_layer=gradcam_layer, baseline=baseline),
    )
    write_manifest(folder, manifest)
    bundle = load_bundle(folder)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        bundle.read_model_bytes(), options, providers=["CPUExecutionProvider"]
    )
    return LoadedModel(bundle=bundle, session=session, twin=load_twin(bundle.read_model_bytes()))


def random_input(model: LoadedModel, seed: int = 0) -> np.ndarray:
    spec = model.manifest.input
    assert isinstance(spec, ImageInput)
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, spec.channels, spec.height, spec.width)).astype(np.float32)
