"""Settings, the env example, and the direction of imports (a test that proves it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_setting_with_its_default() -> None:
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    entries = {
        line.split("=", 1)[0]: line.split("=", 1)[1].split("#")[0].strip()
        for line in lines
        if line.startswith("XAI_")
    }
    assert set(entries) == {f"XAI_{name.upper()}" for name in Settings.model_fields}
    defaults = Settings(case_ref_key="x" * 32)
    for name in Settings.model_fields:
        if name == "case_ref_key":
            continue
        assert str(getattr(defaults, name)) == entries[f"XAI_{name.upper()}"], name


@pytest.mark.parametrize("key", ["", "changeme", "short"])
def test_settings_refuse_default_or_weak_secrets(key: str) -> None:
    with pytest.raises(ValidationError, match="case_ref_key"):
        Settings(case_ref_key=key)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


FORBIDDEN = {
    "shared": ("services", "fastapi", "starlette", "torch", "captum", "shap", "onnx2torch"),
    "services/api": ("services.worker", "torch", "captum", "shap", "onnx2torch"),
}


@pytest.mark.parametrize("package", list(FORBIDDEN))
def test_imports_point_inward(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package])
    ]
    assert offenders == []
