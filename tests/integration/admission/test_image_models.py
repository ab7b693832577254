"""A MONAI ResNet exported by both of torch's exporters, and a ViT, admitted with no hand edits."""

from __future__ import annotations

import json

import pytest

from services.admission.methods import PARITY_BOUND
from shared.bundles.registry import load_bundle
from tests.integration.admission.conftest import methods_of

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("exporter", ["legacy-17", "dynamo"])
def test_a_resnet_is_admitted_with_its_gradcam_layer(exports, add, tmp_path, exporter) -> None:
    added = add(
        exports(f"resnet:{exporter}"), "--name", "resnet", "--version", "v1",
        "--labels", "normal,pneumonia", "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    report = added.report
    assert report["passed"] and report["probes"] >= 8
    bundle = load_bundle(tmp_path / "resnet" / "v1")
    layer = bundle.manifest.explanations.gradcam_layer
    expected = "/layer4/layer4.0/act_1/Relu" if exporter == "legacy-17" else "node_relu_8"
    assert layer == expected  # the block output the pooling reads, in each exporter's naming
    assert 0 <= report["parity"]["scores"] <= PARITY_BOUND
    methods = methods_of(report)
    for name in ("integrated_gradients", "gradcam", "saliency", "smoothgrad"):
        assert methods[name]["available"], methods[name]
    ig = methods["integrated_gradients"]
    assert (
        ig["quality"]["completeness_delta_relative"] <= ig["bounds"]["completeness_delta_relative"]
    )
    assert ig["bounds"]["completeness_delta_relative"] == 0.05
    assert json.loads((tmp_path / "resnet" / "v1" / "admission.json").read_text()) == report


@pytest.mark.parametrize("exporter", ["legacy-17", "dynamo"])
def test_a_vit_gets_gradients_but_no_gradcam_with_the_reason(
    exports, add, tmp_path, exporter
) -> None:
    added = add(
        exports(f"vit:{exporter}"), "--name", "vit", "--version", "v1", "--labels", "a,b",
        "--bundles-dir", str(tmp_path),
    )  # fmt: skip
    assert added.code == 0, added.err
    methods = methods_of(added.report)
    assert not methods["gradcam"]["available"]
    assert "no global average pooling of a 4-D feature map" in methods["gradcam"]["reason"]
    assert methods["integrated_gradients"]["available"]
    assert load_bundle(tmp_path / "vit" / "v1").manifest.explanations.gradcam_layer is None
