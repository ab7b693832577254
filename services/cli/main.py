"""The ``xai`` command: build demo bundles, migrate, serve, work, reconcile, run it all.

Heavy modules are imported inside each command, so ``xai --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from services.cli.admin import register as register_admin
from services.cli.config import command_settings
from services.cli.models import register as register_models


def _build_demo(args: argparse.Namespace) -> int:
    from services.admission.validate import admission_check
    from services.worker.demo.build import build_demo_bundles

    out = Path(args.out) if args.out else command_settings().bundles_dir
    build_demo_bundles(out, force=args.force, check=admission_check)
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from shared.db.migrate import upgrade

    settings = command_settings()
    upgrade(settings.database_url, case_ref_key=settings.case_ref_key.get_secret_value().encode())
    print("database at head")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.api.app import create_app
    from services.api.core import access_log

    settings = command_settings()
    access_log.install()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=args.access_log,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import os

    from services.worker.celery_app import start_worker

    if args.nice:
        os.nice(args.nice)  # the pool processes inherit it
    start_worker(command_settings())
    return 0


def _reconciler(args: argparse.Namespace) -> int:
    from services.worker.reconciler import run_forever

    run_forever(command_settings())
    return 0


def _run(args: argparse.Namespace) -> int:
    from services.cli.embedded import run_embedded

    return run_embedded(skip_build=args.skip_build)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xai", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        text: str,
        parent: argparse._SubParsersAction | None = None,
    ) -> argparse.ArgumentParser:
        sub = (parent or commands).add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    models = commands.add_parser("models", help="model bundles").add_subparsers(
        dest="models_command", required=True
    )
    build = command("build-demo", _build_demo, "build the demo bundles (deterministic)", models)
    build.add_argument("--out", help="bundles folder (default: XAI_BUNDLES_DIR)")
    build.add_argument("--force", action="store_true", help="rebuild even if present")
    register_models(models)

    db = commands.add_parser("db", help="the record").add_subparsers(
        dest="db_command", required=True
    )
    command("upgrade", _db_upgrade, "apply the Alembic migrations", db)

    serve = command("serve", _serve, "run the API (uvicorn)")
    serve.add_argument("--access-log", action="store_true")
    worker = command("worker", _worker, "run one explanation worker (Celery)")
    worker.add_argument(
        "--nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="N",
        help="lower the worker's CPU priority by N (0-19), so that an API sharing the host "
        "keeps its latency while explanations run",
    )
    command("reconciler", _reconciler, "re-publish jobs lost by the broker or by dead workers")
    run = command("run", _run, "the embedded stack: SQLite + SQLite broker, API, worker")
    run.add_argument("--skip-build", action="store_true", help="do not build demo bundles")
    register_admin(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
