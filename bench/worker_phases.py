"""Where a worker's time goes around the explainer: the explain service run in this process
(no broker, no pool) on a fresh Postgres database, profiled with cProfile.

    .venv/bin/python -m bench.worker_phases [--method integrated_gradients] [--n 20]

Prints the median job time and, per job, the cumulative time of each phase: the claim
(its UPDATE), loading the job and its input, re-deriving the model input, the parity check,
the explainer, the stored rendering, the archive with its audit record, and the commits that
the runner (services/worker/runner.py) makes after the claim and after the archive.
cProfile adds overhead to every call: read the phases as shares, not as absolute figures.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from services.api.app import create_app
from services.worker.demo.build import build_demo_bundles
from services.worker.explain import run_job
from shared.bundles.registry import Registry
from shared.db.migrate import upgrade
from tests.conftest import make_settings
from tests.support import servers
from tests.support.inprocess import context_for
from tests.support.tokens import issue

# (label, module path suffix, function name) of the phases, in the order they run
PHASES = (
    ("claim", "shared/db/leases.py", "claim"),
    ("load job + input", "services/worker/explain.py", "_compute"),
    ("re-derive input", "shared/preprocess/__init__.py", "reproduce_tensor"),
    ("parity check", "services/worker/recompute.py", "check_parity"),
    ("explainer", "services/worker/recompute.py", "compute"),
    ("rendering", "services/worker/rendering_defaults.py", "render_default"),
    ("archive + audit record", "services/worker/explain.py", "_archive"),
    ("commits (claim, archive)", "sqlalchemy/engine/base.py", "_commit_impl"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="integrated_gradients")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--bundles", type=Path, help="existing demo bundles (else built)")
    args = parser.parse_args()
    bundles = args.bundles or Path(tempfile.mkdtemp(prefix="bench-phases-")) / "bundles"
    if args.bundles is None:
        build_demo_bundles(bundles, log=lambda _: None)
    bundle = Registry.scan(bundles).get("chest-xray-demo", "clean")
    png = (bundle.path / "examples" / "positive.png").read_bytes()
    warmup = 3
    with servers.postgres_admin() as admin, servers.fresh_database(admin) as url:
        upgrade(url)
        settings = make_settings(database_url=url, broker_url="memory://", bundles_dir=bundles)
        context = context_for(settings, bundles)
        headers = issue(url, "clinician").headers
        with TestClient(create_app(settings), headers=headers) as client:
            jobs = [
                uuid.UUID(
                    client.post(
                        "/v1/predictions",
                        files={"file": ("x.png", png)},
                        data={"model": bundle.name, "version": bundle.version,
                              "methods": args.method},
                    ).json()["explanations"][0]["id"]
                )
                for _ in range(warmup + args.n)
            ]  # fmt: skip
        for job_id in jobs[:warmup]:
            run_job(job_id=job_id, context=context)
        profile, times = cProfile.Profile(), []
        for job_id in jobs[warmup:]:
            started = time.perf_counter()
            profile.runcall(run_job, job_id=job_id, context=context)
            times.append((time.perf_counter() - started) * 1000)
        context.sessions.kw["bind"].dispose()
    report(args.method, times, pstats.Stats(profile), n=args.n)


def report(method: str, times: list[float], stats: pstats.Stats, *, n: int) -> None:
    cumulative: dict[tuple[str, str], float] = {}
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        key = (filename, function)
        cumulative[key] = cumulative.get(key, 0.0) + row[3]
    print(f"{method}: {n} jobs in process, median {statistics.median(times):.1f} ms per job")
    for label, path, function in PHASES:
        seconds = sum(t for (f, fn), t in cumulative.items() if f.endswith(path) and fn == function)
        if label == "explainer":  # compute() minus what it calls besides the explainer
            seconds -= sum(
                t
                for (f, fn), t in cumulative.items()
                if (f.endswith("shared/preprocess/__init__.py") and fn == "reproduce_tensor")
                or (f.endswith("services/worker/recompute.py") and fn == "check_parity")
            )
        if label == "load job + input":
            seconds -= sum(
                t
                for (f, fn), t in cumulative.items()
                if f.endswith("services/worker/recompute.py")
                and fn == "compute"
                or f.endswith("services/worker/explain.py")
                and fn == "_archive_row"
            )
        print(f"  {label:<26} {seconds * 1000 / n:7.2f} ms per job")


if __name__ == "__main__":
    main()
