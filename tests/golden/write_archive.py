"""Write the golden archive: every record kind, written by the release checked out here.

Run it in a checkout of the release whose records the fixture stands for (not the working
tree: the point is records written by *earlier* code), e.g. for 0.1.0::

    git worktree add --detach /tmp/golden-src <0.1.0 commit>
    cp tests/golden/archive.py tests/golden/write_archive.py /tmp/golden-src/tests/golden/
    cd /tmp/golden-src && PYTHONPATH=. /work/main/.venv/bin/python -m tests.golden.write_archive \\
        --release 0.1.0 --out /work/main/tests/golden/

It uses only what that release has: the API in process (TestClient), the worker's explain and
replay services in process, the tiny test bundles, and a fresh SQLite database. Records:
token (create, revoke), prediction, explanation (Integrated Gradients, Grad-CAM, TreeSHAP),
feedback (override, accept), access (a record read, a search), replay, hold (place, release),
purge (an old decision tombstoned), and a checkpoint file of the head.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from services.worker.replay import run_replay
from shared import audit
from shared.auth.tokens import revoke
from shared.db.engine import make_engine
from shared.db.migrate import upgrade
from shared.db.models import Prediction, Role
from tests.conftest import make_settings
from tests.golden import archive
from tests.integration.audit import builders
from tests.support.bundles import build_tiny_image_bundle, build_tiny_tabular_bundle
from tests.support.inprocess import archived_image_and_tabular, context_for
from tests.support.tokens import issue


def write(out: Path, *, release: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="golden-"))
    database = f"sqlite:///{work}/golden.db"
    upgrade(database)
    bundles = work / "bundles"
    build_tiny_image_bundle(bundles)
    build_tiny_tabular_bundle(bundles)
    settings = make_settings(database_url=database, broker_url="memory://", bundles_dir=bundles)
    tokens = {role: issue(database, role, f"golden {role}") for role in Role}
    clinician, auditor = tokens[Role.clinician], tokens[Role.auditor]
    context = context_for(settings, bundles)
    sessions = context.sessions
    with sessions.begin() as session:
        revoke(session, uuid.UUID(issue(database, Role.clinician, "golden revoked").id))
    with TestClient(create_app(settings), headers=clinician.headers) as client:
        image, tabular = archived_image_and_tabular(client, context, case_ref="golden-case-1")
        other = next(
            label for label in ("normal", "pneumonia") if label != image["diagnosis"]["label"]
        )
        for prediction_id, body in (
            (
                image["id"],
                {"decision": "override", "corrected_label": other, "reason": "rim artefact"},
            ),
            (tabular["id"], {"decision": "accept"}),
        ):
            posted = client.post(f"/v1/predictions/{prediction_id}/feedback", json=body)
            assert posted.status_code == 201, posted.text
        for path in (f"/v1/audit/records/{image['id']}", "/v1/audit/records?model=tiny-cnn"):
            read = client.get(path, headers=auditor.headers)
            assert read.status_code == 200, read.text
        ig = next(j["id"] for j in image["explanations"] if j["method"] == "integrated_gradients")
        replay = client.post(
            "/v1/audit/replays", json={"explanation_id": ig}, headers=auditor.headers
        )
        assert replay.status_code in (201, 202), replay.text
        run_replay(replay_id=uuid.UUID(replay.json()["id"]), context=context)
    with sessions.begin() as session:
        audit.place_hold(
            session,
            reason="litigation 2026-17",
            placed_by="dpo",
            prediction_id=uuid.UUID(image["id"]),
        )
        case = session.scalar(
            select(Prediction.case_ref_hmac).where(Prediction.id == uuid.UUID(image["id"]))
        )
        hold = audit.place_hold(session, reason="case review", placed_by="dpo", case_ref_hmac=case)
        audit.release_hold(session, hold.id, released_by="dpo")
        builders.decision(session, random.Random(5), at=builders.T0, methods=("saliency",))
    with sessions.begin() as session:
        report = audit.purge(session, now=datetime.now(UTC), retention_days=183, floor_days=183)
        assert report.tombstoned >= 2, report
    with sessions() as session:
        verified = audit.verify(session)
        assert verified.ok, verified
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        header = {
            "release": release,
            "commit": commit,
            "written_at": datetime.now(UTC).isoformat(),
            "decisions": {"image": image["id"], "tabular": tabular["id"]},
        }
        rows = archive.dump(session, out / f"archive-{release}.jsonl", header=header)
        audit.export_checkpoint(session, out / f"checkpoint-{release}.json")
    make_engine(database).dispose()
    print(f"{rows} rows, {verified.checked} records, head {verified.head_seq}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write(args.out, release=args.release)


if __name__ == "__main__":
    main()
