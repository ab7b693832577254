"""The demo bundles, built once per session and evaluated through ONNX Runtime (what is served).

Floors come from measurements. At build (500 held-out images, seed 1000) and in exploratory
runs with four other training seeds: clean CNN 0.89-0.92; confounded CNN 0.94 in its own
distribution, falling by 0.20-0.27 when the marker is removed from pneumonia cases and by
0.41-0.49 when it is added to normal ones; GBT 0.958 on its 143 held-out cases. On this file's
fresh set (seed 5000, 400 images; binomial standard error about 0.015, less for the paired
counterfactual differences): clean 0.885, moving by at most 0.010 under the counterfactuals;
confounded 0.955, falling to 0.70 (marker removed) and 0.485 (marker added).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from services.worker.demo.build import (
    DEMO_BUILDERS,
    BundleBuilder,
    build_bundle,
    build_demo_bundles,
)
from services.worker.demo.chest_xray import INDEPENDENT_MARKER, generate
from services.worker.demo.chest_xray_bundle import marker_effect_sets, onnx_accuracy
from services.worker.demo.resnet import build_resnet18_bundle
from services.worker.demo.torch_export import ort_session
from shared.bundles.manifest import Feature, Manifest, Output, TabularInput
from shared.bundles.registry import (
    MANIFEST_FILE,
    MODEL_FILE,
    Bundle,
    Registry,
    load_bundle,
    sha256_file,
    write_manifest,
)

pytestmark = pytest.mark.slow

TEST_SEED, TEST_SIZE = 5000, 400


@pytest.fixture(scope="session")
def bundles(demo_bundles: Path) -> Path:
    return demo_bundles


@pytest.fixture(scope="session")
def marker_accuracies(bundles: Path) -> dict[str, dict[str, float]]:
    sets = {
        name: generate(TEST_SIZE, seed=TEST_SEED, marker=p)
        for name, p in marker_effect_sets().items()
    }
    return {
        version: {
            name: onnx_accuracy(bundles / "chest-xray-demo" / version / MODEL_FILE, samples)
            for name, samples in sets.items()
        }
        for version in ("clean", "confounded")
    }


def test_registry_loads_every_demo_bundle(bundles: Path) -> None:
    registry = Registry.scan(bundles)
    assert [(b.name, b.version) for b in registry.all()] == [
        ("breast-cancer-gbt", "v1"),
        ("chest-xray-demo", "clean"),
        ("chest-xray-demo", "confounded"),
    ]
    assert registry.get("chest-xray-demo").version == "clean"
    assert registry.get("breast-cancer-gbt").version == "v1"


def _assert_gradcam_layer_feeds_pooling(bundle: Bundle) -> None:
    graph = onnx.load(str(bundle.model_path)).graph
    (layer,) = [n for n in graph.node if n.name == bundle.manifest.explanations.gradcam_layer]
    consumers = [n.op_type for n in graph.node if layer.output[0] in n.input]
    assert (layer.op_type, consumers) == ("Relu", ["GlobalAveragePool"])


@pytest.mark.parametrize("version", ["clean", "confounded"])
def test_gradcam_layer_is_the_activation_feeding_global_average_pooling(
    bundles: Path, version: str
) -> None:
    _assert_gradcam_layer_feeds_pooling(load_bundle(bundles / "chest-xray-demo" / version))


def test_resnet18_bench_bundle(tmp_path: Path) -> None:
    bundle = load_bundle(build_resnet18_bundle(tmp_path))
    _assert_gradcam_layer_feeds_pooling(bundle)
    session = ort_session(bundle.model_path)
    assert session.get_inputs()[0].shape == ["batch", 3, 224, 224]
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    (logits,) = session.run(["logits"], {"input": x})
    assert logits.shape == (2, 2) and np.all(np.isfinite(logits))


def test_clean_model_accuracy_on_held_out_images(bundles: Path) -> None:
    held_out = generate(TEST_SIZE, seed=TEST_SEED, marker=INDEPENDENT_MARKER)
    accuracy = onnx_accuracy(bundles / "chest-xray-demo" / "clean" / MODEL_FILE, held_out)
    assert accuracy >= 0.82  # measured 0.885 here, 0.89-0.92 at build; chance 0.5


def test_confounded_model_is_a_clever_hans(marker_accuracies: dict[str, dict[str, float]]) -> None:
    confounded = marker_accuracies["confounded"]
    reference = confounded["confounded_held_out"]
    assert reference >= 0.88  # measured 0.955: in its own distribution it looks good
    assert reference - confounded["marker_removed_from_positives"] >= 0.15  # measured 0.25
    assert reference - confounded["marker_added_to_negatives"] >= 0.25  # measured 0.47


def test_clean_model_ignores_the_marker(marker_accuracies: dict[str, dict[str, float]]) -> None:
    clean = marker_accuracies["clean"]
    for name in ("marker_removed_from_positives", "marker_added_to_negatives"):
        assert abs(clean[name] - clean["confounded_held_out"]) <= 0.03  # measured <= 0.010


def test_manifests_record_the_marker_effect(bundles: Path) -> None:
    cards = {
        v: load_bundle(bundles / "chest-xray-demo" / v).manifest.model_card
        for v in ("clean", "confounded")
    }
    effect = cards["confounded"]["marker_effect"]
    assert effect["confounded_held_out"] - effect["marker_added_to_negatives"] >= 0.25
    assert cards["clean"]["held_out_accuracy"] >= 0.82
    assert "90 %" in cards["confounded"]["confounding"]


def test_gbt_accuracy_and_background(bundles: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    bundle = load_bundle(bundles / "breast-cancer-gbt" / "v1")
    data = load_breast_cancer()
    assert [f.name for f in bundle.manifest.input.features] == list(data.feature_names)
    _, x_test, _, y_test = train_test_split(
        data.data.astype(np.float32),
        data.target,
        test_size=0.25,
        stratify=data.target,
        random_state=0,
    )
    (probabilities,) = ort_session(bundle.model_path).run(["probabilities"], {"input": x_test})
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert np.mean(np.argmax(probabilities, axis=1) == y_test) >= 0.93  # measured 0.958
    assert bundle.manifest.output.labels[bundle.manifest.output.positive_index] == "malignant"
    background = np.load(bundle.file(bundle.manifest.explanations.background_file))
    assert background.shape == (100, 30) and background.dtype == np.float32


def test_second_build_is_skipped(bundles: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in bundles.rglob("*") if p.is_file()}
    messages: list[str] = []
    build_demo_bundles(bundles, log=messages.append)
    assert all("up to date" in m for m in messages) and len(messages) == 3
    assert {p: p.stat().st_mtime_ns for p in bundles.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("builder", [DEMO_BUILDERS[0], DEMO_BUILDERS[2]], ids=lambda b: b.name)
def test_rebuilding_gives_byte_identical_models(
    bundles: Path, tmp_path: Path, builder: BundleBuilder
) -> None:
    rebuilt = build_bundle(tmp_path, builder, log=lambda _: None)
    original = bundles / builder.name / builder.version
    assert sha256_file(rebuilt / MODEL_FILE) == sha256_file(original / MODEL_FILE)
    # the measured numbers in the model card are reproduced as well
    assert (rebuilt / MANIFEST_FILE).read_bytes() == (original / MANIFEST_FILE).read_bytes()


@pytest.mark.parametrize("version", ["clean", "confounded"])
def test_image_examples_are_counterfactual_pairs(bundles: Path, version: str) -> None:
    from PIL import Image

    examples = bundles / "chest-xray-demo" / version / "examples"
    masks = np.load(examples / "masks.npz")
    for stem in ("positive", "negative"):
        plain, marked = (Image.open(examples / f"{stem}{s}.png") for s in ("", "_marker"))
        assert plain.mode == marked.mode == "L" and plain.size == (128, 128)
        differs = np.asarray(plain) != np.asarray(marked)
        assert differs.any() and not np.any(differs & ~masks[f"{stem}_marker.marker"])
        assert not masks[f"{stem}.marker"].any()
    assert masks["positive.opacity"].any() and not masks["negative.opacity"].any()
    assert not np.any(masks["positive.opacity"] & ~masks["positive.lung"])


def _fake_builder(version: str, *, fail: bool = False) -> BundleBuilder:
    """Writes a tiny bundle (load_bundle checks files and manifest, not the ONNX graph)."""

    def build(folder: Path) -> dict[str, float]:
        folder.mkdir(parents=True)
        (folder / MODEL_FILE).write_bytes(version.encode())
        if fail:
            raise RuntimeError("training diverged")
        manifest = Manifest(
            name="fake",
            version="v1",
            task="tabular-classification",
            input=TabularInput(features=(Feature(name="x", minimum=0.0, maximum=1.0),)),
            output=Output(name="p", kind="probabilities", labels=("a", "b")),
            model_card={"builder_version": version},
        )
        write_manifest(folder, manifest)
        return {}

    return BundleBuilder("fake", "v1", version, build)


def test_build_is_atomic_and_replaces_stale_versions(tmp_path: Path) -> None:
    target = build_bundle(tmp_path, _fake_builder("1"), log=lambda _: None)
    with pytest.raises(RuntimeError, match="diverged"):
        build_bundle(tmp_path, _fake_builder("2", fail=True), log=lambda _: None)
    assert (target / MODEL_FILE).read_bytes() == b"1"  # the old bundle survives a failed build
    build_bundle(tmp_path, _fake_builder("2"), log=lambda _: None)
    assert (target / MODEL_FILE).read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake"]  # no staging left behind
