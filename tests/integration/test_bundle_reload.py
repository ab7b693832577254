"""One bad bundle never takes the others down, and bundles are picked up without a restart:
a live API and worker over a bundles folder that changes while they run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shared.db.models import Role
from tests.support.bundles import (
    IMAGE_SIZE,
    breast_cancer_case,
    build_tiny_image_bundle,
    build_tiny_tabular_bundle,
)
from tests.support.inputs import gray_png
from tests.support.live import LiveApi, live_api
from tests.support.processes import wait_final, wait_for

pytestmark = pytest.mark.slow
PICKED_UP_S = 15


def _served(api: LiveApi) -> dict[str, str]:
    response = api.client.get("/v1/models")
    assert response.status_code == 200, response.text
    return {m["name"]: m["sha256"] for m in response.json()}


def _rejected(api: LiveApi) -> dict[str, str]:
    response = api.client.get("/v1/models/rejected")
    assert response.status_code == 200, response.text
    return {f"{r['name']}/{r['version']}": r["reason"] for r in response.json()}


def _broken_copy(source: Path, bundles: Path) -> Path:
    """``source`` copied as ``broken/v1`` with an unknown key in its manifest."""
    folder = bundles / "broken" / "v1"
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.update(name="broken", colour="red")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _predict(api: LiveApi) -> dict:  # type: ignore[type-arg]
    response = api.client.post(
        "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case()}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_broken_bundle_is_listed_and_bundles_reload_without_a_restart(tmp_path: Path) -> None:
    bundles, staging = tmp_path / "bundles", tmp_path / "staging"
    broken = _broken_copy(build_tiny_image_bundle(bundles), bundles)
    build_tiny_tabular_bundle(staging)
    with live_api(bundles, tmp_path, worker=True) as api:
        assert list(_served(api)) == ["tiny-cnn"]
        reason = _rejected(api)["broken/v1"]
        assert reason.startswith(f"{broken / 'manifest.json'}: colour:"), reason
        ops = api.client.get("/v1/ops/status", headers=api.tokens[Role.ops].headers).json()
        assert [(r["name"], r["version"]) for r in ops["rejected"]] == [("broken", "v1")]
        assert "bundle broken/v1 rejected" in api.log.read_text()
        assert api.client.get("/readyz").json()["checks"]["bundles"]["detail"] == "1 loaded"
        # the worker (one process) explains a job first, so it has scanned the folder already
        image = {"file": ("x.png", gray_png(IMAGE_SIZE), "image/png")}
        first = api.client.post("/v1/predictions", files=image, data={"model": "tiny-cnn"})
        assert first.status_code == 201, first.text
        jobs = first.json()["explanations"]
        assert [wait_final(api.client, j["id"])["status"] for j in jobs] == ["succeeded"] * 2

        shutil.copytree(staging / "tiny-gbt", bundles / "tiny-gbt")
        wait_for(lambda: "tiny-gbt" in _served(api), timeout=PICKED_UP_S, what="tiny-gbt")
        assert api.client.get("/readyz").json()["checks"]["bundles"]["detail"] == "2 loaded"
        served_sha = _served(api)["tiny-gbt"]
        (job,) = _predict(api)["explanations"]
        assert wait_final(api.client, job["id"])["status"] == "succeeded"

        other = (bundles / "tiny-cnn" / "v1" / "model.onnx").read_bytes()
        (bundles / "tiny-gbt" / "v1" / "model.onnx").write_bytes(other)
        wait_for(lambda: "tiny-gbt/v1" in _rejected(api), timeout=PICKED_UP_S, what="refusal")
        assert "versions are immutable" in _rejected(api)["tiny-gbt/v1"]
        assert _served(api)["tiny-gbt"] == served_sha
        assert _predict(api)["model"]["sha256"] == served_sha

        shutil.rmtree(bundles / "tiny-gbt")
        wait_for(lambda: "tiny-gbt" not in _served(api), timeout=PICKED_UP_S, what="removal")
        assert "tiny-gbt/v1" not in _rejected(api)
        refused = api.client.post(
            "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case()}
        )
        assert refused.status_code == 404, refused.text
        assert api.client.get("/readyz").json()["checks"]["bundles"]["detail"] == "1 loaded"
