"""What admission decides, as the API serves it (real Postgres, a real admission of tiny-cnn):
unavailable methods listed with their reasons and refused with a 422 naming them, bundles whose
report does not fit refused, the admission recorded in the chain once however often the API
starts, ``GET /v1/models/{name}/{version}``, and the admission in an auditor's report."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from shared.bundles.admission import REPORT_FILE
from shared.db.engine import make_engine, make_session_factory
from shared.db.migrate import upgrade
from shared.db.models import AuditRecord, Role
from shared.hashing import sha256_hex
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support import inputs, pdf, servers
from tests.support.admitted import NAME, SALIENCY_REASON
from tests.support.processes import wait_for
from tests.support.tokens import issue


@dataclass(frozen=True)
class Api:
    settings: Settings
    headers: dict[Role, dict[str, str]]

    def client(self) -> TestClient:
        return TestClient(create_app(self.settings), headers=self.headers[Role.clinician])

    def admission_records(self) -> list[AuditRecord]:
        engine = make_engine(self.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                query = select(AuditRecord).where(AuditRecord.kind == "admission")
                return list(session.scalars(query.order_by(AuditRecord.seq)))
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def api(pg_admin: str, admitted_bundles: Path) -> Iterator[Api]:
    with servers.fresh_database(pg_admin) as url:
        upgrade(url)
        settings = make_settings(
            database_url=url, broker_url="memory://", bundles_dir=admitted_bundles
        )
        yield Api(settings, {role: issue(url, role).headers for role in Role})


def _predict(client: TestClient, version: str, methods: str) -> dict[str, Any]:
    response = client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": NAME, "version": version, "methods": methods},
    )
    return {"status": response.status_code, **response.json()}


def test_the_admission_is_recorded_once_however_often_the_api_starts(api: Api) -> None:
    for _ in range(2):
        with api.client() as client:
            assert client.get("/v1/models").status_code == 200
    records = api.admission_records()
    # v1 and v2 share their model bytes but not their manifest and report: one record each
    assert len(records) == 2
    assert {r.subject_id for r in records} == {
        sha256_hex((api.settings.bundles_dir / NAME / "v1" / "model.onnx").read_bytes())
    }


def test_models_list_the_methods_admission_found_unavailable(api: Api) -> None:
    with api.client() as client:
        models = {f"{m['name']}/{m['version']}": m for m in client.get("/v1/models").json()}
        rejected = {r["version"]: r["reason"] for r in client.get("/v1/models/rejected").json()}
    assert set(models) == {f"{NAME}/v1", f"{NAME}/v2"}
    v1, v2 = models[f"{NAME}/v1"], models[f"{NAME}/v2"]
    assert v1["admitted"] and v2["admitted"]
    assert "saliency" in v1["methods"] and "saliency" not in v2["methods"]
    assert v2["unavailable_methods"]["saliency"] == SALIENCY_REASON
    assert "saliency" not in v1["unavailable_methods"]
    assert v1["unavailable_methods"]["kernel_shap"] == (
        "for tabular models; this is image-classification"
    )
    assert v1["manifest_sha256"] == sha256_hex(
        (api.settings.bundles_dir / NAME / "v1" / "manifest.json").read_bytes()
    )
    assert set(rejected) == {"stale", "refused"}
    assert "was written for model sha256 000000000000" in rejected["stale"]
    assert "admission failed at step 'output sanity'" in rejected["refused"]
    assert "rows do not sum to 1" in rejected["refused"]


def test_a_request_for_an_unavailable_method_is_a_422_naming_why(api: Api) -> None:
    with api.client() as client:
        refused = _predict(client, "v2", "gradcam,saliency")
        tabular_only = _predict(client, "v1", "kernel_shap")
        served = _predict(client, "v1", "saliency")
    assert refused["status"] == 422, refused
    (error,) = refused["errors"]
    assert error["field"] == "methods"
    assert f"saliency is unavailable for {NAME}/v2: {SALIENCY_REASON}" in error["reason"]
    assert "gradcam" in error["reason"].split("available: ")[1]
    assert tabular_only["status"] == 422
    assert "for tabular models; this is image-classification" in tabular_only["errors"][0]["reason"]
    assert served["status"] == 201, served


def test_get_one_model_returns_its_admission_and_chain_record(api: Api) -> None:
    with api.client() as client:
        one = client.get(f"/v1/models/{NAME}/v2")
        unknown = client.get(f"/v1/models/{NAME}/v9")
        nobody = client.get("/v1/models/no-such-model/v1")
    assert one.status_code == 200, one.text
    body = one.json()
    folder = api.settings.bundles_dir / NAME / "v2"
    on_disk = json.loads((folder / REPORT_FILE).read_text())
    admission = body["admission"]
    assert admission["report"] == on_disk
    assert admission["report_sha256"] == sha256_hex((folder / REPORT_FILE).read_bytes())
    records = {r.seq: r for r in api.admission_records()}
    assert admission["seq"] in records
    assert body["unavailable_methods"]["saliency"] == SALIENCY_REASON
    assert "saliency" not in body["methods"]
    for missing in (unknown, nobody):
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
    assert "no version 'v9'" in unknown.json()["detail"]


def test_the_auditor_report_shows_how_the_model_was_admitted(api: Api) -> None:
    with api.client() as client:
        decision = _predict(client, "v2", "gradcam")
        assert decision["status"] == 201, decision
        auditor = {**api.headers[Role.auditor], "X-Audit-Purpose": "admission check"}
        path = f"/v1/audit/records/{decision['id']}/report"
        report = client.get(f"{path}.json", headers=auditor)
        printed = client.get(f"{path}.pdf", headers=auditor)
        detail = client.get(f"/v1/models/{NAME}/v2").json()
    assert report.status_code == 200, report.text
    admission = report.json()["admission"]
    assert admission["recorded"] and admission["passed"]
    assert admission["seq"] == detail["admission"]["seq"]
    assert admission["report_sha256"] == detail["admission"]["report_sha256"]
    assert admission["admitted_at"] is not None
    steps = [s["step"] for s in admission["steps"]]
    assert steps[:3] == ["manifest", "onnx.checker", "onnxruntime"]
    methods = {m["method"]: m for m in admission["methods"]}
    assert methods["saliency"]["reason"] == SALIENCY_REASON
    assert methods["integrated_gradients"]["available"]
    assert "completeness_delta" in methods["integrated_gradients"]["quality"]
    assert set(admission["parity"]) == {"logits"}
    assert printed.status_code == 200
    _, text = pdf.read(printed.content)
    assert "Model admission" in text and f"seq {admission['seq']} (admission/2)" in text
    assert pdf.squashed(SALIENCY_REASON) in pdf.squashed(text)


def test_a_bundle_added_while_serving_is_recorded_before_it_is_served(
    tmp_path: Path, admitted_bundles: Path
) -> None:
    """Hot reload on the embedded SQLite record: the first time the API lists the new bundle,
    its admission record is already in the chain."""
    database = f"sqlite:///{tmp_path}/xai.db"
    upgrade(database)
    served = tmp_path / "bundles"
    served.mkdir()
    settings = make_settings(database_url=database, broker_url="memory://", bundles_dir=served)
    client = TestClient(create_app(settings), headers=issue(database, Role.ops).headers)
    with client:
        assert client.get("/v1/models").json() == []
        staging = tmp_path / "staging"
        shutil.copytree(admitted_bundles / NAME / "v1", staging / NAME / "v1")
        shutil.move(str(staging / NAME), str(served / NAME))
        wait_for(
            lambda: client.get("/v1/models").json(), timeout=60, what="the bundle to be served"
        )
        detail = client.get(f"/v1/models/{NAME}/v1").json()
    records = Api(settings, {}).admission_records()
    assert [r.seq for r in records] == [detail["admission"]["seq"]]
