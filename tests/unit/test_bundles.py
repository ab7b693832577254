"""Manifest validation and the registry (bundles in a temporary folder)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.bundles.manifest import ImageInput, Manifest, Output
from shared.bundles.registry import (
    BundleError,
    Registry,
    UnknownModel,
    load_bundle,
    write_manifest,
)
from shared.methods import supported_methods


def manifest(name: str = "m", version: str = "v1", **changes: object) -> Manifest:
    values: dict[str, object] = {
        "name": name,
        "version": version,
        "task": "image-classification",
        "input": ImageInput(height=8, width=8),
        "output": Output(name="logits", kind="logits", labels=("a", "b")),
    }
    values.update(changes)
    return Manifest.model_validate(values)


def put(root: Path, m: Manifest, payload: bytes = b"onnx") -> Path:
    folder = root / m.name / m.version
    write_manifest(folder, m)
    (folder / "model.onnx").write_bytes(payload)
    return folder


def test_manifest_refuses_inconsistent_specs() -> None:
    with pytest.raises(ValidationError, match="one value per channel"):
        ImageInput(height=8, width=8, channels=3)
    with pytest.raises(ValidationError, match="needs an tabular input"):
        manifest(task="tabular-classification")
    with pytest.raises(ValidationError, match="positive_index"):
        Output(name="p", kind="probabilities", labels=("a", "b"), positive_index=2)
    with pytest.raises(ValidationError):
        manifest(name="../escape")


def test_registry_picks_the_default_version_else_the_last(tmp_path: Path) -> None:
    put(tmp_path, manifest(version="a"))
    put(tmp_path, manifest(version="b", default=True))
    put(tmp_path, manifest(version="c"), payload=b"other")
    put(tmp_path, manifest(name="n", version="1"))
    put(tmp_path, manifest(name="n", version="2"))
    registry = Registry.scan(tmp_path)
    assert registry.get("m").version == "b"
    assert registry.get("n").version == "2"
    assert registry.get("m", "c").sha256 == hashlib.sha256(b"other").hexdigest()
    with pytest.raises(UnknownModel):
        registry.get("m", "z")
    with pytest.raises(UnknownModel):
        registry.get("zz")
    with pytest.raises(UnknownModel, match="pinned"):
        registry.get_by_sha256("m", "c", "0" * 64)


def test_changed_model_bytes_are_detected_and_paths_stay_inside(tmp_path: Path) -> None:
    folder = put(tmp_path, manifest())
    bundle = Registry.scan(tmp_path).get("m")
    assert bundle.read_model_bytes() == b"onnx"
    (folder / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleError, match="changed"):
        bundle.read_model_bytes()
    with pytest.raises(BundleError, match="outside"):
        bundle.file("../../etc/passwd")


def test_a_folder_must_match_its_manifest(tmp_path: Path) -> None:
    folder = put(tmp_path, manifest())
    folder.rename(tmp_path / "m" / "renamed")
    with pytest.raises(BundleError, match="names m/v1"):
        load_bundle(tmp_path / "m" / "renamed")
    (rejected,) = Registry.scan(tmp_path).rejected
    assert (rejected.name, rejected.version) == ("m", "renamed")
    assert "names m/v1" in rejected.reason


def test_method_support_follows_the_manifest() -> None:
    assert "gradcam" not in supported_methods(manifest())
    assert "gradcam" in supported_methods(manifest(explanations={"gradcam_layer": "/conv/Conv"}))
    assert "tree_shap" not in supported_methods(manifest())


@pytest.mark.parametrize(
    ("explanations", "problem"),
    [
        (
            {"parameters": {"integrated_gradients": {"n_steps": 2048}}},
            "explanations.parameters.integrated_gradients.n_steps: must be ≤ 1024",
        ),
        (
            {"parameters": {"smoothgrad": {"stdevs": -0.5}}},
            "explanations.parameters.smoothgrad.stdevs: must be ≥ 0",
        ),
        (
            {"parameters": {"saliency": {"absolute": True}}},
            "explanations.parameters.saliency.absolute: unknown parameter; known: abs",
        ),
        (
            {"parameters": {"lime": {}}},
            "explanations.parameters.lime: unknown method",
        ),
        (
            {"default_methods": ["integrated_gradient"]},
            "explanations.default_methods.integrated_gradient: unknown method",
        ),
    ],
)
def test_a_bundle_whose_method_parameters_are_refused_is_not_loaded(
    tmp_path: Path, explanations: dict[str, object], problem: str
) -> None:
    folder = put(tmp_path, manifest(explanations=explanations))
    with pytest.raises(BundleError) as refused:
        load_bundle(folder)
    assert str(refused.value).startswith(f"{folder / 'manifest.json'}: {problem}")
    registry = Registry.scan(tmp_path)
    assert len(registry) == 0
    assert [r.reason for r in registry.rejected] == [str(refused.value)]


def test_one_broken_bundle_is_rejected_and_the_others_load(tmp_path: Path) -> None:
    put(tmp_path, manifest(name="good"))
    broken = put(tmp_path, manifest(name="bad"))
    text = (broken / "manifest.json").read_text()
    (broken / "manifest.json").write_text(text.replace('"name"', '"colour": "red", "name"', 1))
    registry = Registry.scan(tmp_path)
    assert [b.name for b in registry.all()] == ["good"]
    (rejected,) = registry.rejected
    assert (rejected.name, rejected.version, rejected.path) == ("bad", "v1", broken)
    assert rejected.reason.startswith(f"{broken / 'manifest.json'}: colour:")


def test_a_bundles_method_parameters_are_merged_over_the_defaults(tmp_path: Path) -> None:
    from shared.methods import METHODS

    m = manifest(
        explanations={
            "baseline": "blur",
            "parameters": {"integrated_gradients": {"n_steps": 64}},
        }
    )
    put(tmp_path, m)
    bundle = Registry.scan(tmp_path).get("m")
    given = bundle.manifest.explanations.parameters["integrated_gradients"]
    resolved = METHODS["integrated_gradients"].resolve(bundle.manifest, given)
    assert (resolved.n_steps, resolved.baseline) == (64, "blur")  # type: ignore[attr-defined]
