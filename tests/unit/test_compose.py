"""The compose file promises a topology; check each service, image/build and healthcheck."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = {"postgres", "redis", "api", "worker", "reconciler", "flower"}
ONE_SHOT = {"migrate", "bundles"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reset", lambda loader, node: None)


def load(path: Path) -> dict:  # type: ignore[type-arg]
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def test_every_promised_service_is_there_with_its_healthcheck() -> None:
    services = load(ROOT / "docker-compose.yml")["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if name in LONG_RUNNING:
            assert service["healthcheck"]["test"], name
        else:
            assert service["restart"] == "no", name
    for built in ("migrate", "worker"):
        assert (ROOT / services[built]["build"]["dockerfile"]).is_file()
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_worker_reserves_a_gpu_and_the_cpu_override_drops_it() -> None:
    worker = load(ROOT / "docker-compose.yml")["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    override = load(ROOT / "deploy" / "compose.cpu.yml")["services"]["worker"]
    assert override["environment"]["XAI_WORKER_DEVICE"] == "cpu"
    assert override["deploy"]["resources"]["reservations"]["devices"] is None  # !reset


def test_the_api_image_has_no_torch() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    api_deps = project["dependencies"] + project["optional-dependencies"]["api"]
    assert not [d for d in api_deps if d.split("[")[0].split("=")[0].startswith("torch")]
    assert "'.[api]'" in (ROOT / "deploy" / "api.Dockerfile").read_text()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_parses_the_file() -> None:
    env = {"POSTGRES_PASSWORD": "x", "XAI_CASE_REF_KEY": "y" * 32, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
