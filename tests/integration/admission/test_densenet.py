"""MONAI's DenseNet-121, 3 channels with ImageNet normalisation, exported from the same weights by
both of torch's exporters and admitted by ``xai models add`` with no hand edits.

Each admission finds the Grad-CAM layer under its exporter's own node name; both names address
the map the source model's global pooling reads. Explained by the worker's own loading path,
the two exports give the same attributions up to float32 noise.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from services.admission.methods import PARITY_BOUND
from services.admission.probes import image_probes
from services.cli.main import main
from services.worker.context import ModelCache
from services.worker.explainers import LoadedModel, get_explainer
from services.worker.twin import find_layer
from shared.bundles.manifest import ImageInput
from shared.bundles.registry import Registry
from shared.methods import METHODS
from tests.integration.admission import models
from tests.integration.admission.conftest import methods_of

pytestmark = pytest.mark.slow

EXPORTERS = ("legacy-17", "dynamo")
SIZE = 64
FEATURES = 128
"""Channels of the final map: 8 initial, growth 4 over blocks of 6/12/24/16, halved thrice."""
IMAGENET = ("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225")
GRADIENT_METHODS = ("integrated_gradients", "saliency", "smoothgrad", "gradcam")
AGREEMENT = 1e-4
"""Largest max |a - b| between the two exports' values, relative to max |a| (float32 noise)."""


@dataclass(frozen=True)
class Admitted:
    code: int
    report: dict[str, Any]
    model: LoadedModel


@dataclass(frozen=True)
class Clock:
    """Wall and CPU time now; the difference of two reads as ``"<wall> s (cpu <cpu> s)"``."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)

    def __sub__(self, earlier: Clock) -> str:
        return f"{self.wall - earlier.wall:.1f} s (cpu {self.cpu - earlier.cpu:.1f} s)"


@dataclass(frozen=True)
class Densenet:
    source: torch.nn.Module
    admitted: dict[str, Admitted]


@pytest.fixture(scope="module")
def densenet(tmp_path_factory: pytest.TempPathFactory) -> Densenet:
    """One set of weights, exported by each exporter and admitted as version ``<exporter>``."""
    folder = tmp_path_factory.mktemp("densenet")
    bundles = folder / "bundles"
    source = models.densenet121()
    codes = {}
    for exporter in EXPORTERS:
        started = Clock()
        path = models.export_torch(source, (3, SIZE, SIZE), exporter, folder / f"{exporter}.onnx")
        exported = Clock()
        codes[exporter] = main(
            ["models", "add", str(path), "--name", "densenet", "--version", exporter,
             "--labels", "normal,pneumonia", *IMAGENET, "--bundles-dir", str(bundles)]
        )  # fmt: skip
        print(f"densenet {exporter}: export {exported - started}, admission {Clock() - exported}")
    cache = ModelCache(registry=Registry.scan(bundles), device="cpu", threads=2)
    admitted = {}
    for exporter, code in codes.items():
        report = json.loads((bundles / "densenet" / exporter / "admission.json").read_text())
        model = cache.load(name="densenet", version=exporter, sha256=report["sha256"])
        admitted[exporter] = Admitted(code, report, model)
    return Densenet(source=source, admitted=admitted)


def probe(model: LoadedModel) -> np.ndarray:
    """The image the admission explains: its first seeded probe."""
    spec = model.manifest.input
    assert isinstance(spec, ImageInput)
    return image_probes(spec)[:1]


def relative_gap(expected: np.ndarray, got: np.ndarray) -> float:
    scale = float(np.max(np.abs(expected)))
    assert scale > 0, "all-zero values agree with anything"
    return float(np.max(np.abs(got - expected))) / scale


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_each_export_is_admitted_with_every_offered_method(densenet, exporter) -> None:
    admitted = densenet.admitted[exporter]
    assert admitted.code == 0, admitted.report
    report = admitted.report
    assert report["passed"] and report["probes"] >= 8
    assert 0 <= report["parity"]["scores"] <= PARITY_BOUND
    manifest = admitted.model.manifest
    assert manifest.input == ImageInput(
        height=SIZE, width=SIZE, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
    )
    offered = {name for name, spec in METHODS.items() if spec.supports(manifest)}
    assert offered >= set(GRADIENT_METHODS)
    for name, line in methods_of(report).items():
        assert line["available"] == (name in offered), line
        for figure, bound in line["bounds"].items():
            assert line["quality"][figure] <= bound, (name, figure)
    ig = methods_of(report)["integrated_gradients"]
    assert ig["bounds"] == {"completeness_delta_relative": 0.05}


def test_both_exports_name_the_map_the_pooling_reads(densenet) -> None:
    """The two layer names differ; each computes the source's final ReLU, which its pool reads."""
    layers = {e: a.model.manifest.explanations.gradcam_layer for e, a in densenet.admitted.items()}
    assert layers["legacy-17"] == "/class_layers/relu/Relu"
    assert layers["dynamo"] is not None and layers["dynamo"].startswith("node_relu")
    x = probe(densenet.admitted["legacy-17"].model)
    expected = activation(densenet.source, densenet.source.class_layers.relu, x)
    assert expected.shape == (1, FEATURES, SIZE // 32, SIZE // 32)
    for exporter, admitted in densenet.admitted.items():
        twin = admitted.model.twin
        assert twin is not None
        got = activation(twin, find_layer(twin, layers[exporter]), x)
        assert got.shape == expected.shape
        assert relative_gap(expected, got) <= AGREEMENT, exporter


def activation(model: torch.nn.Module, layer: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, output: seen.append(output.clone()))
    try:
        with torch.no_grad():
            model(torch.from_numpy(x))
    finally:
        handle.remove()
    (output,) = seen
    return output.numpy()


# Fewer samples than served: the comparison is of the two graphs' gradients, not the quadrature.
CHEAPER: dict[str, dict[str, Any]] = {
    "integrated_gradients": {"n_steps": 8, "max_steps": 8},
    "smoothgrad": {"nt_samples": 4},
}


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_the_two_exports_explain_alike(densenet, method) -> None:
    legacy, dynamo = (densenet.admitted[e].model for e in EXPORTERS)
    x = probe(legacy)
    values = {}
    for exporter, model in zip(EXPORTERS, (legacy, dynamo), strict=True):
        parameters = METHODS[method].resolve(model.manifest, CHEAPER.get(method))
        result = get_explainer(method).explain(
            model=model, x=x, target=1, parameters=parameters, seed=0
        )
        values[exporter] = result.values
    gap = relative_gap(values["legacy-17"], values["dynamo"])
    print(f"densenet {method}: relative gap between the exports {gap:.2e}")
    assert gap <= AGREEMENT
