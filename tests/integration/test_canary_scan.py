"""Pseudonymisation end to end: canary identifiers sent in ``case_ref``, in DICOM tags, in PNG
text chunks (tEXt, zTXt, iTXt, XMP, eXIf) and in JPEG EXIF, XMP and comments reach no table, no
column, no Redis key and no log line of a real ``xai serve`` + ``xai worker`` on
Postgres and Redis, nor does the HMAC key of the case references. The scanner is shown to find
each canary first (in a probe table and a probe log), so a clean scan means something."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine, inspect, text
from sqlalchemy.types import LargeBinary

from shared.db.engine import make_engine
from shared.db.models import Role
from tests.support.bundles import breast_cancer_case
from tests.support.canaries import (
    assert_no_canary,
    assert_no_canary_in_png,
    canary_dicom,
    canary_jpeg,
    canary_png,
)
from tests.support.live import LiveApi, live_api
from tests.support.processes import wait_final

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")
PROBE = "canary_probe"


def test_no_identifier_or_key_reaches_the_record_the_queue_or_the_logs(
    bundles_dir: Path, tmp_path: Path
) -> None:
    with live_api(bundles_dir, tmp_path, worker=True) as api:
        key = api.settings.case_ref_key.get_secret_value()
        originals, needles = _submit_and_read_back(api)
        engine = make_engine(api.settings.database_url)
        try:
            _the_scanner_sees_every_needle(engine, tmp_path, originals, [*needles, key])
            assert _scan_database(engine, [*needles, key]) == []
        finally:
            engine.dispose()
        assert _scan_redis(api.settings.broker_url, [*needles, key]) == []
    logs = [tmp_path / "api.log", tmp_path / "worker.log"]
    assert all(log.stat().st_size > 0 for log in logs)
    assert _scan_files(logs, [*needles, key]) == []


def _submit_and_read_back(api: LiveApi) -> tuple[list[bytes], list[str]]:
    """Two DICOMs, a PNG, a JPEG and a tabular case, each with its own canaries; every read a
    user makes."""
    originals, needles, predictions = [], [], []
    uploads = [
        ("scan.dcm", "application/dicom", *canary_dicom("K")),
        ("scan.dcm", "application/dicom", *canary_dicom("L")),
        ("scan.png", "image/png", *canary_png("M")),
        ("photo.jpg", "image/jpeg", *canary_jpeg("N")),
    ]
    for name, media_type, upload, canaries in uploads:
        case_ref = f"XQZ{name[:4].upper()}-CASE-REF-{uuid.uuid4().hex[:8]}"
        response = api.client.post(
            "/v1/predictions",
            files={"file": (name, upload, media_type)},
            data={"model": "tiny-cnn", "case_ref": case_ref},
        )
        assert response.status_code == 201, response.text
        predictions.append((response.json(), case_ref, canaries))
        originals.append(upload)
        # text canaries; the birth date (digits) could match a number in a JSON result; those
        # only in compressed PNG chunks are checked in the stored input, inflated
        needles += [c for c in canaries if not c.isdigit()] + [case_ref]
    case_ref = f"XQZT-TABULAR-CASE-{uuid.uuid4().hex[:8]}"
    response = api.client.post(
        "/v1/predictions",
        json={"model": "tiny-gbt", "features": breast_cancer_case(2), "case_ref": case_ref},
    )
    assert response.status_code == 201, response.text
    predictions.append((response.json(), case_ref, []))
    needles.append(case_ref)
    auditor = api.tokens[Role.auditor].headers
    for body, case_ref, canaries in predictions:
        _read_as_a_clinician(api.client, body)
        _read_as_an_auditor(api.client, auditor, body, case_ref, canaries)
    return originals, needles


def _read_as_a_clinician(client: httpx.Client, body: dict) -> None:  # type: ignore[type-arg]
    assert client.get(body["links"]["self"]).status_code == 200
    for job in body["explanations"]:
        final = wait_final(client, job["id"], timeout=180)
        assert final["status"] == "succeeded", final  # the worker re-derived the tensor
        for link in ("rendering", "attributions"):
            assert client.get(final["links"][link]).status_code == 200, (link, final)


def _read_as_an_auditor(
    client: httpx.Client,
    headers: dict[str, str],
    body: dict,  # type: ignore[type-arg]
    case_ref: str,
    canaries: list[str],
) -> None:
    """The case is found by its reference (keyed HMAC); its record, report and stored input
    are served; the stored input holds no canary."""
    found = client.get("/v1/audit/records", params={"case_ref": case_ref}, headers=headers)
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()["items"]] == [body["id"]]
    record = f"/v1/audit/records/{body['id']}"
    assert client.get(record, headers=headers).status_code == 200
    stored = client.get(f"{record}/input", headers=headers)
    assert stored.status_code == 200
    assert_no_canary(stored.content, canaries)
    if stored.headers["content-type"].startswith("image/png"):
        assert_no_canary_in_png(stored.content, canaries)  # inside compressed chunks too
    report = client.get(f"{record}/report.json", headers=headers)
    assert report.status_code == 200, report.text


def _the_scanner_sees_every_needle(
    engine: Engine, logs: Path, originals: list[bytes], needles: list[str]
) -> None:
    """Planted in a probe table (the original DICOMs as bytea, the rest as text) and in a
    probe log, every needle is found; then the probe table is dropped."""
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {PROBE} (data bytea, note text)"))
        connection.execute(
            text(f"INSERT INTO {PROBE} VALUES (:data, NULL)"),
            [{"data": original} for original in originals],
        )
        connection.execute(
            text(f"INSERT INTO {PROBE} VALUES (NULL, :note)"),
            [
                {"note": needle}
                for needle in needles
                if not any(needle.encode() in o for o in originals)
            ],
        )
    try:
        hits = _scan_database(engine, needles)
        assert {needle for _, needle in hits} == set(needles)
        assert [(where, n) for where, n in hits if not where.startswith(f"{PROBE}.")] == []
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {PROBE}"))
    probe = logs / "probe.log"
    probe.write_text(f"INFO planted {needles[0]}\n")
    assert _scan_files([probe], needles) == [(str(probe), needles[0])]
    probe.unlink()


def _scan_database(engine: Engine, needles: list[str]) -> list[tuple[str, str]]:
    """Every column of every table: bytea searched as bytes, any other type cast to text."""
    inspector = inspect(engine)
    hits = []
    with engine.connect() as connection:
        tables = inspector.get_table_names()
        assert {"predictions", "blobs", "audit_payloads", "access_log"} <= set(tables)
        for table in tables:
            for column in inspector.get_columns(table):
                name = column["name"]
                binary = isinstance(column["type"], LargeBinary)
                cast = f'"{name}"' if binary else f'"{name}"::text'
                values = connection.execute(text(f'SELECT {cast} FROM "{table}"')).scalars()
                haystack = b"\0".join(_as_bytes(v) for v in values if v is not None)
                hits += [(f"{table}.{name}", n) for n in _found(haystack, needles)]
    return hits


def _scan_redis(url: str, needles: list[str]) -> list[tuple[str, str]]:
    client = redis.Redis.from_url(url)
    try:
        hits = []
        for key in client.scan_iter():
            haystack = b"\0".join([key, *_redis_values(client, key)])
            hits += [(key.decode(errors="replace"), n) for n in _found(haystack, needles)]
        return hits
    finally:
        client.close()


def _redis_values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key).decode()  # type: ignore[union-attr]
    if kind == "string":
        return [client.get(key) or b""]  # type: ignore[list-item]
    if kind == "list":
        return list(client.lrange(key, 0, -1))  # type: ignore[arg-type]
    if kind == "hash":
        return [b for kv in client.hgetall(key).items() for b in kv]  # type: ignore[union-attr]
    if kind in ("set", "zset"):
        members = client.smembers(key) if kind == "set" else client.zrange(key, 0, -1)
        return list(members)  # type: ignore[arg-type]
    return []


def _scan_files(paths: list[Path], needles: list[str]) -> list[tuple[str, str]]:
    return [(str(p), n) for p in paths for n in _found(p.read_bytes(), needles)]


def _found(haystack: bytes, needles: list[str]) -> list[str]:
    places = (haystack, haystack.lower())
    return [n for n in needles if any(form in place for form in _forms(n) for place in places)]


def _forms(needle: str) -> set[bytes]:
    """As written, lower case, JSON-escaped (``\\u00dc``); in UTF-8 and UTF-16."""
    texts = {needle, needle.lower()}
    texts |= {json.dumps(t)[1:-1] for t in texts}
    return {t.encode(encoding) for t in texts for encoding in ENCODINGS}


def _as_bytes(value: object) -> bytes:
    if isinstance(value, memoryview):
        return value.tobytes()
    return value if isinstance(value, bytes) else str(value).encode()
