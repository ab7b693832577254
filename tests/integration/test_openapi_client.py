"""A frontend's view of the API: a Python client generated from the live OpenAPI document
(``openapi-python-client`` with the project's config, as the README says) must come out
without one warning, and, imported as generated, must drive a real API and worker: create a
prediction, read its explanation and attributions, and read refusals as the one
``ProblemDetails`` model.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.db.models import Role
from tests.support.bundles import breast_cancer_case
from tests.support.live import LiveApi, live_api

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "clients" / "openapi-python-client.yaml"
PACKAGE = "xai_stack_client"


@pytest.fixture(scope="module")
def api(bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(bundles_dir, tmp_path_factory.mktemp("client"), worker=True) as live:
        yield live


@pytest.fixture(scope="module")
def generated(api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The generator's output; the client package is importable while the module runs."""
    out = tmp_path_factory.mktemp("generated")
    schema = out / "openapi.json"
    schema.write_text(json.dumps(api.client.get("/openapi.json").json()))
    generator = Path(sys.executable).parent / "openapi-python-client"
    command = [str(generator), "generate", "--path", str(schema), "--config", str(CONFIG)]
    command += ["--output-path", str(out / "client"), "--overwrite", "--fail-on-warning"]
    # its post-hooks run ruff, installed next to the interpreter
    env = {**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    sys.path.insert(0, str(out / "client"))
    try:
        yield f"rc={run.returncode}\n{run.stdout}{run.stderr}"
    finally:
        sys.path.remove(str(out / "client"))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def client_module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


def authenticated(api: LiveApi, role: Role = Role.clinician) -> Any:
    token = api.tokens[role].plaintext
    client = client_module("client")
    return client.AuthenticatedClient(base_url=str(api.client.base_url), token=token, timeout=60)


def test_the_client_is_generated_without_a_warning(generated: str) -> None:
    assert generated.startswith("rc=0\n"), generated
    assert "warning" not in generated.lower(), generated
    assert "Generating" in generated, generated


def test_operations_have_short_names(generated: str) -> None:
    for module in ("predictions.predictions_create", "explanations.explanations_get"):
        assert hasattr(client_module(f"api.{module}"), "sync_detailed"), module


def test_a_prediction_and_its_explanation_through_the_generated_client(
    api: LiveApi, generated: str
) -> None:
    models = client_module("models")
    create = client_module("api.predictions.predictions_create")
    read = client_module("api.explanations.explanations_get")
    attributions = client_module("api.explanations.explanations_get_attributions")
    client = authenticated(api)

    features = models.TabularPredictionBodyFeatures.from_dict(breast_cancer_case(1))
    body = models.TabularPredictionBody(model="tiny-gbt", features=features)
    response = create.sync_detailed(client=client, body=body)
    assert response.status_code == 201, response.content
    prediction = response.parsed
    assert isinstance(prediction, models.PredictionOut)
    assert prediction.model.name == "tiny-gbt"
    probabilities = prediction.diagnosis.probabilities.additional_properties
    assert prediction.diagnosis.label == max(probabilities, key=probabilities.get)
    assert prediction.diagnosis.probability == probabilities[prediction.diagnosis.label]
    assert prediction.links.self_ == f"/v1/predictions/{prediction.id}"
    assert prediction.explanations, "the bundle's default methods are queued"

    job = prediction.explanations[0]
    deadline = time.monotonic() + 120
    explanation = read.sync(job.id, client=client)
    while explanation.status.value not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"job {job.id} still {explanation.status}"
        time.sleep(0.5)
        explanation = read.sync(job.id, client=client)
    assert isinstance(explanation, models.ExplanationOut)
    assert explanation.status == models.JobStatus.SUCCEEDED, explanation.last_error
    assert explanation.prediction_id == prediction.id
    archived = explanation.result.attributions
    assert explanation.links.attributions == f"/v1/explanations/{job.id}/attributions"
    assert explanation.timings.queued_at <= explanation.timings.finished_at

    npy = attributions.sync(job.id, client=client)
    data = npy.payload.read()
    assert hashlib.sha256(data).hexdigest() == archived.sha256
    assert data.startswith(b"\x93NUMPY")


def test_refusals_parse_as_the_problem_model(api: LiveApi, generated: str) -> None:
    models = client_module("models")
    create = client_module("api.predictions.predictions_create")
    get = client_module("api.predictions.predictions_get")
    client = authenticated(api)

    missing = uuid.uuid4()
    unknown = get.sync_detailed(missing, client=client)
    assert unknown.status_code == 404
    assert isinstance(unknown.parsed, models.ProblemDetails)
    assert unknown.parsed.status == 404
    assert str(missing) in unknown.parsed.detail

    features = {**breast_cancer_case(1), "shoe size": 43.0}
    body = models.TabularPredictionBody(
        model="tiny-gbt", features=models.TabularPredictionBodyFeatures.from_dict(features)
    )
    invalid = create.sync_detailed(client=client, body=body)
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.ProblemDetails)
    assert invalid.parsed.title == "Invalid input"
    assert [(e.field, e.reason) for e in invalid.parsed.errors] == [
        ("features.shoe size", "unknown feature")
    ]

    ops_only = client_module("api.operations.operations_get_status")
    forbidden = ops_only.sync_detailed(client=client)
    assert forbidden.status_code == 403
    assert isinstance(forbidden.parsed, models.ProblemDetails)
    assert "clinician" in forbidden.parsed.detail
