"""Schema fuzzing: schemathesis against the live OpenAPI schema of a real ``xai serve`` process.

Every operation, >= 1,000 generated requests, with the checks for server errors, status-code,
content-type and response-schema conformance and negative-data rejection: 0 failures.

A live process (not the ASGI app in-process) so that what is fuzzed is what is deployed:
uvicorn's HTTP parsing, the streaming body cap and the threadpool included. A worker runs too,
and one image and one tabular prediction are archived first: their ids are offered to the
fuzzer (a dictionary used for half of the generated path values), so the 200 responses of the
read routes, renderings and SSE stream included, are checked against the schema as well, not
only their 404s. Generation is deterministic (``--generation-deterministic``): a failure
reproduces with the same command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from shared.db.models import Role
from tests.integration.hostile.corpus import image
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.live import LiveApi, live_api
from tests.support.processes import wait_final

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,negative_data_rejection,ignored_auth"
)
MIN_REQUESTS = 1000
# Each role fuzzes the operations its token may call (path regexes; together they cover all),
# with max examples per operation and phase. Auditor reads are slower by design (each one is
# logged first; verify walks the whole chain, a PDF report takes ~0.8 s), hence fewer.
ROLE_PATHS = {
    Role.clinician: (
        r"^/v1/(predictions|explanations)|^/v1/(models|methods|models/rejected)$"
        r"|^/v1/models/\{name\}/\{version\}$",
        40,
    ),
    Role.auditor: (r"^/v1/audit/", 12),
    Role.ops: (r"^/v1/ops/|^/metrics$|^/healthz$|^/readyz$|/summary\.png$", 40),
}


@pytest.fixture(scope="module")
def api(bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(bundles_dir, tmp_path_factory.mktemp("fuzz"), worker=True) as live:
        yield live


@pytest.fixture(scope="module")
def archived(api: LiveApi) -> dict[str, list[str]]:
    """One image and one tabular prediction, explained and archived: ids for the fuzzer."""
    created = [
        api.client.post("/v1/predictions", **image(inputs.gray_png())),
        api.client.post(
            "/v1/predictions", json={"model": "tiny-gbt", "features": breast_cancer_case(3)}
        ),
    ]
    assert all(r.status_code == 201 for r in created), [r.text for r in created]
    bodies = [r.json() for r in created]
    jobs = [job["id"] for body in bodies for job in body["explanations"]]
    for job in jobs:
        assert wait_final(api.client, job)["status"] == "succeeded"
    replay = api.client.post(
        "/v1/audit/replays",
        json={"explanation_id": jobs[0]},
        headers=api.tokens[Role.auditor].headers,
    )
    assert replay.status_code == 202, replay.text
    return {
        "predictions": [body["id"] for body in bodies],
        "jobs": jobs,
        "tabular_jobs": [job["id"] for job in bodies[1]["explanations"]],
        "replays": [replay.json()["id"]],
        "models": ["tiny-cnn", "tiny-gbt"],
        "versions": ["v1"],
    }


def _config(path: Path, known: dict[str, list[str]]) -> Path:
    bindings = {
        "path.prediction_id": "predictions",
        "path.job_id": "jobs",
        "path.replay_id": "replays",
        "body.explanation_id": "jobs",
        "path.name": "models",
        "path.version": "versions",
        "body.model": "models",
    }
    lines = []
    for name, values in known.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [
        f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}'
        for key, name in bindings.items()
    ]
    # a waterfall exists for tabular explanations only: offer it those ids
    lines += [
        "",
        "[[operations]]",
        'include-path = "/v1/explanations/{job_id}/waterfall.png"',
        'parameters = { "path.job_id" = { dictionary = "tabular_jobs", probability = 0.5 } }',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_live_schema_holds_under_fuzzing(
    api: LiveApi, archived: dict[str, list[str]], tmp_path: Path
) -> None:
    config = _config(tmp_path / "schemathesis.toml", archived)
    url = f"{api.client.base_url}/openapi.json"
    statuses: Counter[tuple[str, int]] = Counter()
    for role, (paths, examples) in ROLE_PATHS.items():
        started = time.monotonic()
        report = tmp_path / f"events-{role}.ndjson"
        headers = [arg for k, v in api.tokens[role].headers.items() for arg in ("-H", f"{k}: {v}")]
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config)),
            *("--no-color", "run", url, "--checks", CHECKS, "--include-path-regex", paths),
            *("--max-examples", str(examples), *headers),
            *("--generation-deterministic", "--workers", "1", "--request-timeout", "30"),
            *("--report", "ndjson", "--report-ndjson-path", str(report)),
        ]
        run = subprocess.run(command, capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, f"as {role}: " + run.stdout[-6000:] + run.stderr[-2000:]
        statuses += _statuses(report)
        print(
            f"\nas {role}: {sum(_statuses(report).values())} requests, "
            f"{time.monotonic() - started:.0f} s"
        )
    total = sum(statuses.values())
    schema = api.client.get("/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, ops in schema["paths"].items() for m in ops}
    print(f"\nschemathesis {version('schemathesis')}: {total} requests (documented operations:)")
    for operation in sorted(operations):
        codes = {code: n for (op, code), n in sorted(statuses.items()) if op == operation}
        print(f"  {operation}: {codes}")
    assert total >= MIN_REQUESTS
    tested = {operation for operation, _ in statuses}
    assert operations <= tested, f"never fuzzed: {operations - tested}"
    assert not [key for key in statuses if key[1] >= 500]
    succeeded = {operation for operation, status in statuses if status < 300}
    assert operations <= succeeded, f"only ever refused: {operations - succeeded}"


def _statuses(report: Path) -> Counter[tuple[str, int]]:
    """Requests sent, by documented operation and response status."""
    counts: Counter[tuple[str, int]] = Counter()
    for line in report.read_text().splitlines():
        recorder = json.loads(line).get("ScenarioFinished", {}).get("recorder", {})
        for case_id, interaction in recorder.get("interactions", {}).items():
            case = recorder["cases"][case_id]["value"]
            if interaction.get("response") is not None:
                operation = f"{case['method']} {case['path']}"
                counts[(operation, interaction["response"]["status_code"])] += 1
    return counts


def test_heatmap_options_are_taken_by_their_documented_names_only(
    api: LiveApi, archived: dict[str, list[str]]
) -> None:
    job = archived["jobs"][0]  # an image job: the first prediction is the image one
    url = f"/v1/explanations/{job}/heatmap.png"
    assert api.client.get(url, params={"clip": 60}).status_code == 200
    undocumented = api.client.get(url, params={"clip_percentile": 60})
    assert undocumented.status_code == 422, undocumented.text
    assert undocumented.json()["errors"][0]["field"] == "query.clip_percentile"
