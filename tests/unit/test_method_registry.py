"""A method is declared once: the registry in ``shared.methods``, one explainer per method in
the worker (taking the declared parameter model), and pages that name no method themselves but
read ``GET /v1/methods``. A method added in one place and not the others fails here."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from services.worker import explainers
from shared.bundles.manifest import Explanations, ImageInput, Manifest, Output
from shared.methods import FIGURES, METHODS, MethodSpec

ROOT = Path(__file__).resolve().parents[2]
DECLARATIONS = ROOT / "shared" / "methods"
EXPLAINERS = ROOT / "services" / "worker" / "explainers"
WEB = ROOT / "services" / "api" / "pages" / "web"


def test_the_worker_has_one_explainer_per_declared_method_and_no_other() -> None:
    assert set(explainers._IMPLEMENTATIONS) == set(METHODS)
    modules = {p.stem for p in EXPLAINERS.glob("*.py") if not p.stem.startswith("_")}
    assert modules - {"__init__", "base"} == set(METHODS)


def test_each_method_is_declared_in_its_own_module() -> None:
    modules = {p.stem for p in DECLARATIONS.glob("*.py") if not p.stem.startswith("_")}
    assert modules - {"spec", "quality"} == set(METHODS)
    for name, spec in METHODS.items():
        assert spec.name == name
        assert spec.parameters.__module__ == f"shared.methods.{name}"


@pytest.mark.parametrize("name", list(METHODS))
def test_each_explainer_takes_its_methods_parameter_model(name: str) -> None:
    explainer = explainers.get_explainer(name)
    assert explainer.name == name
    hints = typing.get_type_hints(type(explainer).explain)
    assert hints["parameters"] is METHODS[name].parameters


@pytest.mark.parametrize("spec", list(METHODS.values()), ids=list(METHODS))
def test_each_declaration_is_complete(spec: MethodSpec) -> None:
    assert spec.modality in ("image", "tabular")
    assert spec.label and spec.summary and spec.plain and spec.limitations
    assert set(spec.quality) <= set(FIGURES)
    for field_name, field in spec.parameters.model_fields.items():
        assert field.description, f"{spec.name}.{field_name} has no description"


def test_every_quality_figure_is_recorded_by_some_method() -> None:
    recorded = {name for spec in METHODS.values() for name in spec.quality}
    assert recorded == set(FIGURES)


def test_the_defaults_are_valid_for_a_bundle_that_offers_the_method() -> None:
    image = Manifest(
        name="m",
        version="v1",
        task="image-classification",
        input=ImageInput(height=8, width=8),
        output=Output(name="logits", kind="logits", labels=("a", "b")),
        explanations=Explanations(gradcam_layer="/conv/Conv", baseline="mean"),
    )
    for name in ("integrated_gradients", "gradcam", "saliency", "smoothgrad"):
        resolved = METHODS[name].resolve(image)
        assert resolved.recorded() == METHODS[name].resolve(image, resolved.recorded()).recorded()
    assert METHODS["integrated_gradients"].resolve(image).baseline == "mean"  # type: ignore[attr-defined]
    assert METHODS["gradcam"].resolve(image).layer == "/conv/Conv"  # type: ignore[attr-defined]


def _page_sources() -> dict[Path, str]:
    files = [*WEB.glob("*.html"), *WEB.glob("static/js/*.js")]
    assert len(files) > 10, "the pages were not found"
    return {path: path.read_text() for path in files}


@pytest.mark.parametrize("spec", list(METHODS.values()), ids=list(METHODS))
def test_the_pages_name_no_method_themselves(spec: MethodSpec) -> None:
    """Names, labels and descriptions come from GET /v1/methods, never from a page's copy."""
    words = [rf"\b{re.escape(spec.name)}\b", re.escape(spec.label)]
    words += [re.escape(spec.plain[:40]), re.escape(spec.summary[:30])]
    for path, text in _page_sources().items():
        for word in words:
            assert not re.search(word, text), f"{path.name} names {spec.name} ({word})"


def test_the_pages_read_the_registry_and_the_figures_from_it() -> None:
    sources = {path.name: text for path, text in _page_sources().items()}
    assert 'getJson("/v1/methods")' in sources["methods.js"]
    for name, figure in FIGURES.items():
        for path, text in sources.items():
            assert not re.search(rf"\b{name}\b", text), f"{path} names the figure {name}"
            assert figure.reading[:30] not in text
    users = [n for n, text in sources.items() if "methodName(" in text and n != "methods.js"]
    assert users, "no page shows a method's label"
    for name in users:
        assert 'from "./methods.js"' in sources[name], name
    for page in ("clinical.js", "auditor.js"):
        assert "await loadMethods()" in sources[page], page
    for word in ("black", "blur"):  # the baseline is the job's, never the page's
        assert not any(re.search(rf"\b{word}\b", text) for text in sources.values()), word
