"""The demo bundles take the same way in: each is admitted, with its report in the bundle."""

from __future__ import annotations

import json

import pytest

from services.worker.demo.build import DEMO_BUILDERS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("builder", DEMO_BUILDERS, ids=lambda b: f"{b.name}/{b.version}")
def test_each_demo_bundle_was_admitted(demo_bundles, builder) -> None:
    report = json.loads(
        (demo_bundles / builder.name / builder.version / "admission.json").read_text()
    )
    assert report["passed"] and report["failed_step"] is None
    available = {m["method"] for m in report["methods"] if m["available"]}
    expected = (
        {"integrated_gradients", "gradcam", "saliency", "smoothgrad", "superpixel_shap"}
        if builder.name == "chest-xray-demo"
        else {"tree_shap", "kernel_shap", "permutation_shap"}
    )
    assert available == expected
