"""Models exported once per session, and ``xai models add`` run in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.cli.main import main
from tests.integration.admission import heads, models


@dataclass(frozen=True)
class Added:
    code: int
    out: str
    err: str
    report: dict | None  # type: ignore[type-arg]


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    folder = tmp_path_factory.mktemp("exports")
    cache: dict[str, Path] = {}

    def get(key: str) -> Path:
        if key not in cache:
            family, _, exporter = key.partition(":")
            path = folder / f"{family}-{exporter or 'onnx'}.onnx"
            if family == "resnet":
                cache[key] = models.export_torch(models.resnet(), (1, 64, 64), exporter, path)
            elif family == "vit":
                cache[key] = models.export_torch(models.vit(), (1, 32, 32), exporter, path)
            elif family.startswith("multilabel"):  # multilabelN: N sigmoid findings
                model = heads.multilabel_resnet(int(family.removeprefix("multilabel")))
                cache[key] = models.export_torch(model, (1, 64, 64), exporter, path)
            elif family == "score-cnn":
                cache[key] = models.export_torch(heads.score_cnn(), (1, 64, 64), exporter, path)
            elif family.startswith("regressor-"):  # regressor-gbr, regressor-xgboost
                cache[key] = heads.export_regressor(family.removeprefix("regressor-"), path)
            else:
                cache[key] = models.tabular_onnx(family, path)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def background_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.write_background_csv(tmp_path_factory.mktemp("rows") / "background.csv")


@pytest.fixture
def add(capsys: pytest.CaptureFixture[str]) -> Callable[..., Added]:
    """``xai models add MODEL --json ARGS…``: its exit code, output and parsed report."""

    def run(model: Path, *args: str) -> Added:
        code = main(["models", "add", str(model), "--json", *args])
        captured = capsys.readouterr()
        report = json.loads(captured.out) if captured.out.strip().startswith("{") else None
        return Added(code=code, out=captured.out, err=captured.err, report=report)

    return run


def methods_of(report: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {m["method"]: m for m in report["methods"]}
