"""≥ 200 random tamperings of a real chain on Postgres, one per trial: 100 % must be detected,
at the right seq (truncation and consistent rewrites through a checkpoint).

One chain of ~30 records (decisions with blobs, feedback, auditor reads) is built in one
transaction; each trial tampers inside a SAVEPOINT as a superuser attacker would (triggers off
via ``session_replication_role = replica``), verifies, and rolls back; a control verification
after every 8th rollback proves the untampered chain still passes. The seed is printed; rerun one
with ``XAI_TAMPER_SEED=<seed>``.
"""

from __future__ import annotations

import os
import random
from collections import Counter

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared import audit
from shared.db.engine import make_engine
from tests.integration.audit import builders
from tests.integration.audit.tamper import TAMPERINGS, Chain

TRIALS = 240
RECORDS = 30


def test_every_tampering_is_detected(audit_pg_url: str) -> None:
    seed = int(os.environ.get("XAI_TAMPER_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\ntamper seed: {seed} (XAI_TAMPER_SEED={seed} reruns it)")
    rng = random.Random(seed)
    engine = make_engine(audit_pg_url)
    tried: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    misses: list[str] = []
    with Session(engine) as session:
        builders.chain(session, rng, records=RECORDS)
        chain = Chain.read(session)
        checkpoint = audit.take_checkpoint(session)
        assert audit.verify(session, checkpoint=checkpoint).ok
        session.execute(text("SET LOCAL session_replication_role = replica"))
        for trial in range(TRIALS):
            name = rng.choice(sorted(TAMPERINGS))
            savepoint = session.begin_nested()
            expected = TAMPERINGS[name](session, rng, chain)
            report = audit.verify(session)
            honest = True
            if expected.needs_checkpoint:
                # only a checkpoint reveals it: it must look valid without one (else the
                # tampering did not do what it claims)
                honest, report = report.ok, audit.verify(session, checkpoint=checkpoint)
            savepoint.rollback()
            tried[name] += 1
            if not report.ok and report.first_bad_seq == expected.first_bad_seq and honest:
                caught[name] += 1
            else:
                misses.append(f"trial {trial} {name}: expected {expected}, got {report}")
            if trial % 8 == 0:
                control = audit.verify(session, checkpoint=checkpoint)
                assert control.ok, f"trial {trial} ({name}) left a trace: {control}"
        session.rollback()
    engine.dispose()
    for name in sorted(tried):
        print(f"  {name:22s} {caught[name]:3d}/{tried[name]:3d} detected")
    print(f"  total {sum(caught.values())}/{TRIALS} detected (seed {seed})")
    assert len(tried) == len(TAMPERINGS), "every kind of tampering was drawn"
    assert misses == [], f"seed {seed}: " + "\n".join(misses)
