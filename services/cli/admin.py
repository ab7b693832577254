"""Administration commands: ``xai tokens``, ``xai audit``, ``xai retention``.

``services.cli.main.build_parser`` calls :func:`register` with its top-level subparsers. Every
handler opens its own engine from ``XAI_DATABASE_URL`` and commits once, at the end.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from services.cli.config import command_settings
from shared.db.models import Role

Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction) -> None:
    _register_tokens(commands)
    _register_audit(commands)
    _register_retention(commands)


def _group(
    commands: argparse._SubParsersAction, name: str, text: str
) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=text, description=text)
    return parser.add_subparsers(dest=f"{name}_command", required=True)


def _command(
    group: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    text: str,
) -> argparse.ArgumentParser:
    sub = group.add_parser(name, help=text, description=text)
    sub.set_defaults(handler=handler)
    return sub


@contextmanager
def _session(*, snapshot: bool = False) -> Iterator[Session]:
    """One transaction, committed on success. ``snapshot``: one consistent view (Postgres)."""
    from shared.db.engine import make_engine, make_session_factory

    url = command_settings().database_url
    engine = make_engine(url)
    if snapshot and engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with make_session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


# --- tokens ------------------------------------------------------------------------------------


def _register_tokens(commands: argparse._SubParsersAction) -> None:
    tokens = _group(commands, "tokens", "API tokens (stored hashed)")
    create = _command(tokens, "create", _tokens_create, "create a token; stdout: the token only")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", help="who or what holds it (default: the role)")
    revoke = _command(tokens, "revoke", _tokens_revoke, "revoke a token by its id")
    revoke.add_argument("token_id", type=uuid.UUID)


def _tokens_create(args: argparse.Namespace) -> int:
    from shared.auth import create_token

    with _session() as session:
        token_id, plaintext = create_token(session, role=args.role, name=args.name or args.role)
    print(f"created {args.role} token {token_id}", file=sys.stderr)
    print(plaintext)
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    from shared.auth import revoke

    try:
        with _session() as session:
            revoked = revoke(session, args.token_id)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"token {args.token_id} {'revoked' if revoked else 'was already revoked'}")
    return 0


# --- audit -------------------------------------------------------------------------------------


def _register_audit(commands: argparse._SubParsersAction) -> None:
    audit = _group(commands, "audit", "the tamper-evident audit chain")
    verify = _command(audit, "verify", _audit_verify, "verify the chain; exit 1 if it fails")
    verify.add_argument("--checkpoint", type=Path, help="a checkpoint file exported earlier")
    verify.add_argument("--from", dest="start", type=int, help="first seq (default 1)")
    verify.add_argument("--to", dest="end", type=int, help="last seq (default: the head)")
    verify.add_argument("--no-blobs", action="store_true", help="skip re-hashing blob bytes")
    verify.add_argument("--no-rows", action="store_true", help="skip checking live rows")
    checkpoint = _command(
        audit, "checkpoint", _audit_checkpoint, "verify, then write the head to a file"
    )
    checkpoint.add_argument("--out", type=Path, required=True)
    checkpoint.add_argument("--previous", type=Path, help="verify against this checkpoint too")


def _audit_verify(args: argparse.Namespace) -> int:
    from shared.audit import CheckpointError, load_checkpoint, verify

    try:
        checkpoint = load_checkpoint(args.checkpoint) if args.checkpoint else None
        with _session(snapshot=True) as session:
            report = verify(
                session,
                start=args.start,
                end=args.end,
                checkpoint=checkpoint,
                check_blobs=not args.no_blobs,
                check_rows=not args.no_rows,
            )
    except (CheckpointError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if report.ok:
        print(
            f"ok: {report.checked} records, {report.blobs_checked} blobs verified "
            f"(seq {report.from_seq}..{report.to_seq}); head {report.head_seq} {report.head_hash}"
            + (f"; --to clamped to the head {report.to_seq}" if report.clamped else "")
            + (
                "; --from lies past the head: nothing to check"
                if report.to_seq < report.from_seq and args.start
                else ""
            )
        )
        return 0
    where = "" if report.first_bad_seq is None else f" at seq {report.first_bad_seq}"
    print(f"FAILED{where}: {report.reason} ({report.checked} verified)")
    return 1


def _audit_checkpoint(args: argparse.Namespace) -> int:
    from shared.audit import CheckpointError, export_checkpoint, load_checkpoint

    try:
        previous = load_checkpoint(args.previous) if args.previous else None
        with _session(snapshot=True) as session:
            checkpoint = export_checkpoint(session, args.out, previous=previous)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"checkpoint: seq {checkpoint.seq} {checkpoint.hash} -> {args.out}")
    return 0


# --- retention ---------------------------------------------------------------------------------


def _register_retention(commands: argparse._SubParsersAction) -> None:
    retention = _group(commands, "retention", "retention purge and legal holds")
    purge = _command(retention, "purge", _retention_purge, "purge decisions past retention")
    purge.add_argument("--batch", type=_positive, default=500, help="decisions per transaction")
    hold = _command(retention, "hold", _retention_hold, "place a legal hold")
    target = hold.add_mutually_exclusive_group(required=True)
    target.add_argument("--prediction", type=uuid.UUID, help="a prediction id")
    target.add_argument("--case-ref", help="a case reference (stored only as its keyed HMAC)")
    hold.add_argument("--reason", required=True)
    hold.add_argument("--by", required=True, help="who places it")
    release = _command(retention, "release", _retention_release, "release a legal hold")
    release.add_argument("hold_id", type=uuid.UUID)
    release.add_argument("--by", required=True, help="who releases it")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _retention_policy() -> tuple[int, int]:
    """(retention_days, floor_days) from Settings (validated there against the floor)."""
    settings = command_settings()
    return settings.retention_days, settings.retention_floor_days


def _retention_purge(args: argparse.Namespace) -> int:
    from shared.audit import RetentionError, purge

    retention_days, floor_days = _retention_policy()
    now = datetime.now(UTC)
    total = 0
    while True:
        try:
            with _session() as session:
                report = purge(
                    session,
                    now=now,
                    retention_days=retention_days,
                    floor_days=floor_days,
                    batch=args.batch,
                )
        except RetentionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        total += len(report.predictions)
        if report.record_seq is not None:
            print(
                f"purged {len(report.predictions)} decisions, {report.tombstoned} payloads, "
                f"{report.blobs_deleted} blobs (purge record {report.record_seq})"
            )
        if len(report.predictions) < args.batch:
            break
    print(f"done: {total} decisions older than {report.cutoff.isoformat()} purged")
    return 0


def _retention_hold(args: argparse.Namespace) -> int:
    from shared.audit import place_hold
    from shared.hashing import pseudonymise

    case_hmac = None
    if args.case_ref:
        key = command_settings().case_ref_key.get_secret_value().encode()
        case_hmac = pseudonymise(args.case_ref, key=key)
    try:
        with _session() as session:
            hold = place_hold(
                session,
                reason=args.reason,
                placed_by=args.by,
                prediction_id=args.prediction,
                case_ref_hmac=case_hmac,
            )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"hold {hold.id} placed")
    return 0


def _retention_release(args: argparse.Namespace) -> int:
    from shared.audit import release_hold

    try:
        with _session() as session:
            released = release_hold(session, args.hold_id, released_by=args.by)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"hold {args.hold_id} {'released' if released else 'was already released'}")
    return 0
