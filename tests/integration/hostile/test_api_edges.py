"""Edges of the API found by an attack run, against a real ``xai serve`` process (fresh Postgres
database, private Redis): integers too large for a float or for a 64-bit column are a 422 naming
the field (never a 500, and the connection stays usable); a verify range past the chain head is
never reported as tampering; the auditor's stated purpose is decoded (RFC 8187) or refused, never
stored garbled; every multipart field has the JSON body's bounds; an empty method list is
refused; the Idempotency-Key is stored only as a keyed hash; a client that stalls its body is
answered 408 and its connection closed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import LargeBinary, String, Text, select

from shared.db.engine import make_engine, make_session_factory
from shared.db.models import AccessLogEntry, AuditPayload, Base, Prediction, Role
from tests.integration.hostile.corpus import image
from tests.support import inputs
from tests.support.bundles import breast_cancer_case
from tests.support.live import LiveApi, live_api
from tests.support.processes import settings_env

BODY_TIMEOUT_S = 1.5
BODY_TOTAL_S = 4.0
INT64_MAX = 2**63 - 1
PURPOSE = "X-Audit-Purpose"
HUGE = ["1" + "0" * 400, "-1" + "0" * 309, "9" * 4000, str(2**1024), "-" + str(2**1100)]
OUT_OF_INT64 = [str(2**63), str(2**64), "9" * 30, str(-(2**63) - 1)]


@pytest.fixture(scope="module")
def api(bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    logs = tmp_path_factory.mktemp("edges")
    with live_api(
        bundles_dir,
        logs,
        body_read_timeout_s=BODY_TIMEOUT_S,
        body_total_timeout_s=BODY_TOTAL_S,
    ) as live:
        yield live


def _auditor(api: LiveApi) -> dict[str, str]:
    return api.tokens[Role.auditor].headers


@pytest.fixture(autouse=True)
def _log_start(api: LiveApi) -> None:
    """Where this test's part of the API's log starts (each test checks only its own)."""
    _OFFSET[0] = api.log.stat().st_size


_OFFSET = [0]


def _no_traceback(api: LiveApi) -> None:
    with api.log.open("rb") as log:
        log.seek(_OFFSET[0])
        mine = log.read().decode(errors="replace")
    assert "Traceback" not in mine, f"see {api.log}: {mine[-2000:]}"


def _assert_field_problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    fields = [e["field"] for e in problem.get("errors", [])]
    assert any(field in f for f in fields), (field, problem)
    return problem


def _raw_exchange(port: int, requests: list[bytes], *, timeout: float = 30) -> list[bytes]:
    """Send each request on ONE connection and read each answer (Content-Length bodies)."""
    answers: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        stream = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = stream.readline()
                assert line, f"connection closed after {len(answers)} answers: {answers}"
                head += line
            lengths = [
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            # no length: the server's HTTP parser refused the request and closes
            answers.append(head + (stream.read(lengths[0]) if lengths else stream.read()))
    return answers


def _http(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# --- 1. integers too large for a float or a 64-bit column ------------------------------------


@pytest.mark.parametrize("number", HUGE, ids=lambda n: f"{n[:6]}..{len(n)}digits")
def test_a_feature_too_large_for_a_float_is_422_and_the_connection_stays(
    api: LiveApi, number: str
) -> None:
    text = f'{{"model": "tiny-gbt", "features": {_with_value(number)}}}'.encode()
    headers = {**api.tokens[Role.clinician].headers, "Content-Type": "application/json"}
    bad, good = _raw_exchange(
        api.settings.port,
        [_http("POST", "/v1/predictions", headers, text), _http("GET", "/healthz", {})],
    )
    assert bad.startswith(b"HTTP/1.1 422"), bad[:300]
    assert b"features.mean radius" in bad
    assert good.startswith(b"HTTP/1.1 200"), good[:300]
    _no_traceback(api)


def _with_value(number: str) -> str:
    case = breast_cancer_case(1)
    parts = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in case.items()]
    parts[0] = f'"mean radius": {number}'
    return "{" + ", ".join(parts) + "}"


@pytest.mark.parametrize("field", ["from_seq", "to_seq"])
@pytest.mark.parametrize("number", OUT_OF_INT64)
def test_verify_bounds_are_422_naming_the_field(api: LiveApi, field: str, number: str) -> None:
    path = f"/v1/audit/verify?{field}={number}"
    bad, good = _raw_exchange(
        api.settings.port, [_http("GET", path, _auditor(api)), _http("GET", "/healthz", {})]
    )
    assert bad.startswith(b"HTTP/1.1 422"), bad[:300]
    assert field.encode() in bad
    assert good.startswith(b"HTTP/1.1 200"), good[:300]
    _no_traceback(api)


@pytest.mark.parametrize("field", ["seq", "count"])
@pytest.mark.parametrize("number", [2**63, 2**64, 10**40])
def test_checkpoint_numbers_beyond_64_bits_are_422(api: LiveApi, field: str, number: int) -> None:
    head = api.client.post("/v1/ops/checkpoints", headers=api.tokens[Role.ops].headers)
    assert head.status_code == 201, head.text
    body = {**head.json(), field: number}
    response = api.client.post("/v1/audit/verify", json=body, headers=_auditor(api))
    _assert_field_problem(response, 422, field)
    _no_traceback(api)


def test_every_integer_a_request_takes_is_bounded_to_64_bits(api: LiveApi) -> None:
    """The schema bounds every integer query parameter and body field (so nothing out of a
    bigint's range reaches SQL), and the API enforces the bound."""
    schema = api.client.get("/openapi.json").json()
    unbounded = [
        f"{method.upper()} {path} {name}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for name, spec in _integer_inputs(operation, schema)
        # FastAPI writes the bounds of body fields as floats: float(2**63 - 1) == 2.0**63
        if float(spec.get("maximum", float("inf"))) > float(INT64_MAX)
        or float(spec.get("minimum", -float("inf"))) < -float(2**63)
    ]
    assert unbounded == []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if param["in"] == "query" and _is_integer(param["schema"]):
                    url = path.replace("{", "").replace("}", "")
                    if "{" in path:
                        continue  # path ids are uuids or names: covered by the routes' tests
                    response = api.client.request(
                        method,
                        url,
                        params={param["name"]: str(2**63)},
                        headers=api.tokens[_role_for(path)].headers,
                    )
                    _assert_field_problem(response, 422, param["name"])


def _role_for(path: str) -> Role:
    if path.startswith("/v1/audit"):
        return Role.auditor
    if path.startswith("/v1/ops") or path == "/metrics":
        return Role.ops
    return Role.clinician


def _is_integer(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "integer" or any(
        s.get("type") == "integer" for s in spec.get("anyOf", [])
    )


def _integer_inputs(operation: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for param in operation.get("parameters", []):
        yield from _integers(param["name"], param["schema"], schema)
    for content in operation.get("requestBody", {}).get("content", {}).values():
        yield from _integers("body", content.get("schema", {}), schema)


def _integers(name: str, spec: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "$ref" in spec:
        spec = schema["components"]["schemas"][spec["$ref"].rsplit("/", 1)[1]]
    if spec.get("type") == "integer":
        yield name, spec
    for option in spec.get("anyOf", []):
        yield from _integers(name, option, schema)
    for prop, sub in spec.get("properties", {}).items():
        yield from _integers(f"{name}.{prop}", sub, schema)
    if isinstance(spec.get("items"), dict):
        yield from _integers(f"{name}[]", spec["items"], schema)


@pytest.mark.parametrize("number", ["9007199254740993", str(2**63), "1" + "0" * 400, "1e400"])
def test_numeric_method_parameters_past_a_float_or_json_are_refused(
    api: LiveApi, number: str
) -> None:
    """Every integer or number parameter of every method (from ``GET /v1/methods``), given a
    value past the exact range of a JSON number: 422 naming it (a float parameter takes a
    large finite number), never a 5xx."""
    methods = api.client.get("/v1/methods").json()
    tried = 0
    for method in methods:
        for parameter in method["parameters"]:
            if parameter["type"] not in ("integer", "number"):
                continue
            overrides = f'{{"{method["name"]}": {{"{parameter["name"]}": {number}}}}}'
            if method["modality"] == "image":
                response = api.client.post(
                    "/v1/predictions",
                    files={"file": ("x.png", inputs.gray_png())},
                    data={"model": "tiny-cnn", "methods": method["name"], "parameters": overrides},
                )
            else:
                features = json.dumps(breast_cancer_case(2))
                text = (
                    f'{{"model": "tiny-gbt", "methods": ["{method["name"]}"], '
                    f'"parameters": {overrides}, "features": {features}}}'
                )
                response = api.client.post(
                    "/v1/predictions",
                    content=text.encode(),
                    headers={"content-type": "application/json"},
                )
            where = f"{method['name']}.{parameter['name']}={number[:12]}"
            if parameter["type"] == "number" and abs(float(number)) < float("inf"):
                assert response.status_code in (201, 422), (where, response.text[:300])
            else:  # an integer past JSON's exact range, or a number past a float's
                _assert_field_problem(response, 422, f"parameters.{method['name']}")
            tried += 1
    assert tried >= 5
    _no_traceback(api)


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00"]
)
def test_extreme_cursor_times_are_no_5xx(api: LiveApi, moment: str) -> None:
    import base64

    key = json.dumps([moment, str(uuid.uuid4())]).encode()
    cursor = base64.urlsafe_b64encode(key).decode().rstrip("=")
    response = api.client.get("/v1/audit/records", params={"cursor": cursor}, headers=_auditor(api))
    assert response.status_code in (200, 422), response.text
    _no_traceback(api)


# --- 2. a query range is never reported as tampering -------------------------------------------


def test_verify_ranges_past_the_head_are_clamped_never_tamper(api: LiveApi) -> None:
    assert api.client.post("/v1/predictions", **image(inputs.gray_png(7))).status_code == 201
    full = api.client.get("/v1/audit/verify", headers=_auditor(api)).json()
    assert full["ok"], full
    beyond = full["head_seq"] + 1000
    for params in (
        {"to_seq": beyond},
        {"from_seq": full["head_seq"] + 5},
        {"from_seq": INT64_MAX},
        {"from_seq": INT64_MAX, "to_seq": INT64_MAX},
        {"from_seq": 2, "to_seq": beyond},
    ):
        report = api.client.get("/v1/audit/verify", params=params, headers=_auditor(api))
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["ok"] is True and body["first_bad_seq"] is None, (params, body)
        checked = body["range"]
        assert checked["to_seq"] <= body["head_seq"] or checked["to_seq"] == checked["from_seq"] - 1
        assert body["checked"] == max(0, checked["to_seq"] - checked["from_seq"] + 1)
        assert checked["to_seq"] < params.get("to_seq", INT64_MAX + 1)  # clamped, and said so
    inverted = api.client.get(
        "/v1/audit/verify", params={"from_seq": 5, "to_seq": 4}, headers=_auditor(api)
    )
    _assert_field_problem(inverted, 422, "from_seq")


@pytest.mark.parametrize(
    "args", [["--to", "999999"], ["--from", "999999"], ["--from", str(INT64_MAX)]]
)
def test_cli_verify_past_the_head_is_ok(api: LiveApi, args: list[str]) -> None:
    done = _cli(api, ["audit", "verify", *args])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:"), done.stdout
    assert "clamped to the head" in done.stdout or "past the head" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "args", [["--to", str(2**63)], ["--from", "0"], ["--from", "5", "--to", "4"]]
)
def test_cli_verify_refuses_impossible_ranges_without_a_traceback(
    api: LiveApi, args: list[str]
) -> None:
    done = _cli(api, ["audit", "verify", *args])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "error" in done.stderr, done.stderr


def _cli(api: LiveApi, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=settings_env(api.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- 3. the stated purpose ---------------------------------------------------------------------


def _stored_purposes(api: LiveApi) -> list[str]:
    engine = make_engine(api.settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.scalars(
                select(AccessLogEntry.purpose).order_by(AccessLogEntry.audit_seq)
            )
            return list(rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("UTF-8''Beschwerde%20%C3%BCber%20die%20Entscheidung", "Beschwerde über die Entscheidung"),
        ("utf-8'de'r%C3%A9vision%20%E2%80%94%20%E6%A4%9C%E6%9F%BB", "révision — 検査"),
        ("UTF-8''plain", "plain"),
        (
            "complaint 2026-114: review (100% of cases)",
            "complaint 2026-114: review (100% of cases)",
        ),
    ],
)
def test_a_purpose_is_stored_as_the_auditor_meant_it(api: LiveApi, sent: str, stored: str) -> None:
    headers = {**_auditor(api), PURPOSE: sent}
    response = api.client.get("/v1/audit/records", params={"limit": 1}, headers=headers)
    assert response.status_code == 200, response.text
    assert _stored_purposes(api)[-1] == stored
    engine = make_engine(api.settings.database_url)
    with make_session_factory(engine)() as session:
        last = session.scalars(
            select(AuditPayload.payload).order_by(AuditPayload.seq.desc())
        ).first()
    engine.dispose()
    assert last is not None and json.loads(last)["purpose"] == stored


@pytest.mark.parametrize(
    "value",
    [
        "r\xc3\xa9vision".encode("latin-1"),  # raw UTF-8 bytes: would be read as Latin-1
        "caf\xe9".encode("latin-1"),  # raw Latin-1
        b"\x1b[31mred\x1b[0m",  # ANSI escape sequence
        b"a\x00b",
        b"tab\there",
        b"del\x7f",
        b"UTF-8''%1B%5B31m",  # an escape sequence, percent-encoded
        b"UTF-8''%C2%9B31m",  # a C1 control (CSI)
        b"UTF-8''abc%E2%80%AEdef",  # a bidi override
        b"UTF-8''%0Anewline",
        b"UTF-8''%FF%FE",  # not UTF-8
        b"UTF-8''%zz",  # broken percent-encoding
        b"UTF-8''%C3",  # truncated UTF-8
        b"ISO-8859-1''caf%E9",  # another charset
        b"UTF-8''",  # empty once decoded
        b"UTF-8''" + b"%E6%A4%9C" * 1001,  # over 1000 characters once decoded
    ],
)
def test_a_purpose_that_cannot_be_stored_as_meant_is_422(api: LiveApi, value: bytes) -> None:
    before = len(_stored_purposes(api))
    token = api.tokens[Role.auditor].plaintext
    request = (
        b"GET /v1/audit/records?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"X-Audit-Purpose: "
        + value
        + b"\r\n\r\n"
    )
    answer = _raw_exchange(api.settings.port, [request])[0]
    assert answer.startswith(b"HTTP/1.1 422") or answer.startswith(b"HTTP/1.1 400"), answer[:300]
    if answer.startswith(b"HTTP/1.1 422"):
        assert b"X-Audit-Purpose" in answer, answer
    assert len(_stored_purposes(api)) == before
    _no_traceback(api)


def test_two_purpose_headers_are_422(api: LiveApi) -> None:
    before = len(_stored_purposes(api))
    token = api.tokens[Role.auditor].plaintext
    headers = [
        ("Authorization", f"Bearer {token}"),
        (PURPOSE, "first reason"),
        (PURPOSE, "second reason"),
    ]
    response = httpx.get(
        f"http://127.0.0.1:{api.settings.port}/v1/audit/records", headers=headers, timeout=30
    )
    problem = _assert_field_problem(response, 422, PURPOSE)
    assert "more than once" in problem["detail"]
    assert len(_stored_purposes(api)) == before


# --- 4. multipart fields have the JSON body's bounds; no empty method list ---------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"case_ref": "x" * 100_000}, "case_ref"),
        ({"case_ref": "x" * 257}, "case_ref"),
        ({"model": "m" * 65}, "model"),
        ({"version": "v" * 65}, "version"),
        ({"methods": ",".join(["saliency"] * 17)}, "methods"),
        ({"methods": "s" * 100_000}, "methods"),
    ],
)
def test_form_fields_have_the_json_bounds(api: LiveApi, fields: dict[str, str], field: str) -> None:
    data = {"model": "tiny-cnn", **fields}
    response = api.client.post(
        "/v1/predictions", files={"file": ("x.png", inputs.gray_png())}, data=data
    )
    problem = _assert_field_problem(response, 422, field)
    assert len(response.content) < 8192, "the problem echoes the input"
    assert problem["status"] == 422


@pytest.mark.parametrize("methods", ["", ",", " , ", ",,,"])
def test_an_empty_method_list_in_a_form_is_422(api: LiveApi, methods: str) -> None:
    response = api.client.post(
        "/v1/predictions",
        files={"file": ("x.png", inputs.gray_png())},
        data={"model": "tiny-cnn", "methods": methods},
    )
    _assert_field_problem(response, 422, "methods")


@pytest.mark.parametrize("methods", [[], [""], [" "]])
def test_an_empty_method_list_in_json_is_422(api: LiveApi, methods: list[str]) -> None:
    body = {"model": "tiny-gbt", "features": breast_cancer_case(0), "methods": methods}
    response = api.client.post("/v1/predictions", json=body)
    _assert_field_problem(response, 422, "methods")


# --- 5. the Idempotency-Key is stored only as a keyed hash -------------------------------------


def test_the_idempotency_key_is_found_in_no_table(api: LiveApi) -> None:
    canary = f"CANARY-IDEMPOTENCY-{uuid.uuid4().hex}"
    body = {"model": "tiny-gbt", "features": breast_cancer_case(4), "methods": ["tree_shap"]}
    first = api.client.post("/v1/predictions", json=body, headers={"Idempotency-Key": canary})
    again = api.client.post("/v1/predictions", json=body, headers={"Idempotency-Key": canary})
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = {**body, "features": breast_cancer_case(5)}
    refused = api.client.post("/v1/predictions", json=other, headers={"Idempotency-Key": canary})
    _assert_field_problem(refused, 422, "Idempotency-Key")
    engine = make_engine(api.settings.database_url)
    found: list[str] = []
    planted = 0
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | LargeBinary)]
            for row in connection.execute(select(*columns)) if columns else []:
                for column, value in zip(columns, row, strict=True):
                    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    if canary in text:
                        found.append(f"{table.name}.{column.name}")
                    if first.json()["id"] in text:
                        planted += 1
        stored = connection.execute(
            select(Prediction.idempotency_key).where(Prediction.id == uuid.UUID(first.json()["id"]))
        ).scalar_one()
    engine.dispose()
    assert planted > 0, "the scanner finds what is there (the prediction's id)"
    assert found == []
    assert stored is not None and len(stored) == 64 and canary not in stored


# --- 6. a stalled body is answered 408 and the connection closed ------------------------------


def _stall(api: LiveApi, head: bytes, pieces: list[tuple[float, bytes]]) -> tuple[float, bytes]:
    """Send ``head``, then each piece after its delay; return (seconds to the answer, answer
    and everything until the server closed the connection)."""
    with socket.create_connection(("127.0.0.1", api.settings.port), timeout=30) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.setblocking(False)
        answer = b""
        pending = list(pieces)
        next_at = started + (pending[0][0] if pending else 0)
        while time.monotonic() - started < 30:
            if pending and time.monotonic() >= next_at:
                try:
                    sock.sendall(pending.pop(0)[1])
                except OSError:
                    pending.clear()
                next_at = time.monotonic() + (pending[0][0] if pending else 0)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                time.sleep(0.05)
                continue
            except ConnectionResetError:
                break
            if not chunk:
                return time.monotonic() - started, answer
            answer += chunk
        raise AssertionError(f"the connection was held for 30 s; got {answer[:200]!r}")


def _post_head(api: LiveApi, extra: str) -> bytes:
    token = api.tokens[Role.clinician].plaintext
    return (
        "POST /v1/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("extra", "pieces", "limit"),
    [
        ("Content-Length: 5000\r\n", [], BODY_TIMEOUT_S),
        ("Content-Length: 5000\r\n", [(0.1, b'{"model": "tiny-gbt", ')], BODY_TIMEOUT_S),
        ("Transfer-Encoding: chunked\r\n", [(0.1, b'5\r\n{"mod\r\n')], BODY_TIMEOUT_S),
        # a dribble, each piece within the gap limit: the whole body's limit ends it
        ("Content-Length: 5000\r\n", [(0.5, b" ")] * 40, BODY_TOTAL_S),
    ],
    ids=["nothing", "part", "chunked", "dribble"],
)
def test_a_stalled_body_is_answered_408_and_closed(
    api: LiveApi, extra: str, pieces: list[tuple[float, bytes]], limit: float
) -> None:
    seconds, answer = _stall(api, _post_head(api, extra), pieces)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"application/problem+json" in answer
    assert limit - 0.2 <= seconds <= limit + 3.0, seconds
    _no_traceback(api)


def test_on_sqlite_too_verify_bounds_are_422_and_a_range_past_the_head_is_ok(
    tmp_path: Path, bundles_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from shared.db.migrate import upgrade
    from tests.conftest import make_settings
    from tests.support.tokens import issue_all

    url = f"sqlite:///{tmp_path}/edges.db"
    upgrade(url)
    tokens = issue_all(url)
    settings = make_settings(database_url=url, broker_url="memory://", bundles_dir=bundles_dir)
    auditor = tokens[Role.auditor].headers
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for field in ("from_seq", "to_seq"):
            for number in OUT_OF_INT64:
                response = client.get(f"/v1/audit/verify?{field}={number}", headers=auditor)
                _assert_field_problem(response, 422, field)
        for params in ({"to_seq": 10**6}, {"from_seq": INT64_MAX}):
            body = client.get("/v1/audit/verify", params=params, headers=auditor).json()
            assert body["ok"] is True and body["first_bad_seq"] is None, (params, body)
