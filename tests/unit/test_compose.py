"""The compose file promises a topology; check each service, image/build and healthcheck."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = {"postgres", "redis", "api", "worker", "reconciler", "flower"}
ONE_SHOT = {"migrate", "bundles"}


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reset", lambda loader, node: None)


def load(path: Path) -> dict[str, Any]:
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
    assert "-r requirements/api.lock" in (ROOT / "deploy" / "api.Dockerfile").read_text()
    lock = (ROOT / "requirements" / "api.lock").read_text()
    assert not re.search(r"^(torch|nvidia-|triton)", lock, flags=re.M)


def volume_sources(service: dict[str, Any]) -> dict[str, bool]:
    """Named volume -> mounted read-only, from the short (``a:/b:ro``) or long syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            mounts[source] = rest.endswith(":ro")
        else:
            mounts[volume["source"]] = bool(volume.get("read_only"))
    return mounts


def assert_start_order(services: dict[str, Any]) -> None:
    """Nothing starts before what it needs exists: the record migrated, the bundles built."""
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, (name, dep)
            if dep in ONE_SHOT:
                assert spec["condition"] == "service_completed_successfully", (name, dep)
            else:
                assert spec["condition"] == "service_healthy", (name, dep)
                assert services[dep]["healthcheck"]["test"], (name, dep)
        needs = set(service.get("depends_on", {}))
        env = service.get("environment", {})
        if name in LONG_RUNNING - {"postgres", "redis"}:
            assert "redis" in needs, name  # the broker (flower names it in its command)
            if "XAI_DATABASE_URL" in env:
                assert "migrate" in needs, name
        mounts = volume_sources(service)
        if "bundles" in mounts and name != "bundles":
            assert mounts["bundles"], f"{name} may write the bundles volume"
            assert "bundles" in needs, f"{name} reads bundles it does not wait for"
    assert set(services["migrate"]["depends_on"]) == {"postgres"}
    assert volume_sources(services["bundles"]) == {"bundles": False}  # the one writer
    assert not services["bundles"].get("depends_on")  # needs no database, no broker
    for reader in ("api", "worker"):
        assert "bundles" in volume_sources(services[reader]), reader


def test_nothing_starts_before_what_it_needs() -> None:
    assert_start_order(load(ROOT / "docker-compose.yml")["services"])


def test_the_start_order_check_can_fail() -> None:
    broken = load(ROOT / "docker-compose.yml")["services"]
    del broken["worker"]["depends_on"]["bundles"]
    with pytest.raises(AssertionError, match="worker reads bundles"):
        assert_start_order(broken)
    broken = load(ROOT / "docker-compose.yml")["services"]
    broken["api"]["depends_on"]["migrate"]["condition"] = "service_started"
    with pytest.raises(AssertionError):
        assert_start_order(broken)


def docker_compose_config(*files: str) -> subprocess.CompletedProcess[str]:
    # Debian's docker-compose (1.29, what `make test` installs) reads the compose file format
    # the stack uses; `docker compose` (v2) is the one the README runs it with.
    assert shutil.which("docker-compose"), "docker-compose is missing: make test installs it"
    env = {"POSTGRES_PASSWORD": "x", "XAI_CASE_REF_KEY": "y" * 32, "PATH": "/usr/bin:/bin"}
    args = [arg for file in files for arg in ("-f", file)]
    return subprocess.run(
        ["docker-compose", *args, "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_docker_compose_reads_the_start_order_we_wrote() -> None:
    result = docker_compose_config("docker-compose.yml")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    assert_start_order(services)


def test_docker_compose_refuses_a_dependency_on_a_missing_service(tmp_path: Path) -> None:
    broken = load(ROOT / "docker-compose.yml")
    broken["services"]["api"]["depends_on"]["bundle"] = {"condition": "service_healthy"}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    result = docker_compose_config(str(tmp_path / "docker-compose.yml"))
    assert result.returncode != 0 and "bundle" in result.stderr
