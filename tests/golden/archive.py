"""A database's archive as one JSON Lines file, and back: the golden fixtures' format.

Line 1 is a header (``{"golden": "xai-archive-dump/1", "release": …, "commit": …,
"alembic": …, "tables": […]}``); every further line is ``{"table": name, "row": {column:
value}}``, tables in foreign-key order. Column values are JSON, except that ``bytes`` are
``{"$b64": …}``, datetimes ``{"$dt": isoformat}`` and UUIDs ``{"$uuid": …}`` (JSON columns are
written as they are). Floats are written with ``repr``, so they read back bit for bit.

Loading restores the rows into an empty database migrated to the dump's Alembic revision (then
``xai db upgrade`` takes it on, as it would a production database) or to a later one: plain
Core inserts of exactly the dumped columns (the audit tables are insert-only; inserts are what
they allow), so columns a later schema added take the database's defaults; then it sets the
chain head to the last seq. A dumped column the models lack is an error (a migration dropped
archived data).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, MetaData, Table, insert, select, text, update
from sqlalchemy.orm import Session

from shared.db.models import AuditChainHead, AuditRecord, Base

DUMP_FORMAT = "xai-archive-dump/1"
SKIPPED = {"audit_chain_head"}  # derived: the last seq


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in SKIPPED]


def _encoded(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    return value


def _decoded(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$b64":
            return base64.b64decode(raw)
        if tag == "$dt":
            return datetime.fromisoformat(raw)
        if tag == "$uuid":
            return uuid.UUID(raw)
    return value


def dump(session: Session, path: Path, *, header: dict[str, Any]) -> int:
    """Write every archived row to ``path``; returns the number of rows."""
    alembic = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    tables = _tables()
    rows = [
        (table.name, dict(row))
        for table in tables
        for row in session.execute(select(table).order_by(*table.primary_key.columns)).mappings()
    ]
    meta = {"golden": DUMP_FORMAT, **header, "alembic": alembic, "tables": [t.name for t in tables]}
    write(path, meta, rows)
    return len(rows)


def write(path: Path, header: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]) -> None:
    """``rows`` (decoded values, as :func:`read` returns them) as a dump file."""
    tables = {t.name: t for t in _tables()}
    lines = [json.dumps(header)]
    for name, row in rows:
        encoded = {
            column: value if isinstance(tables[name].c[column].type, JSON) else _encoded(value)
            for column, value in row.items()
        }
        lines.append(json.dumps({"table": name, "row": encoded}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read(path: Path) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The header and the ``(table, row)`` pairs, values decoded."""
    header, *rest = path.read_text(encoding="utf-8").splitlines()
    meta = json.loads(header)
    if meta.get("golden") != DUMP_FORMAT:
        raise ValueError(f"{path} is not a {DUMP_FORMAT} file")
    tables = {t.name: t for t in _tables()}
    rows = []
    for line in rest:
        entry = json.loads(line)
        table = tables[entry["table"]]
        unknown = set(entry["row"]) - set(table.c.keys())
        if unknown:
            raise ValueError(f"{table.name}: the schema lost archived columns {sorted(unknown)}")
        rows.append(
            (
                table.name,
                {
                    name: value if isinstance(table.c[name].type, JSON) else _decoded(value)
                    for name, value in entry["row"].items()
                },
            )
        )
    return meta, rows


def load(session: Session, path: Path) -> dict[str, Any]:
    """Insert the dump into ``session``'s (migrated, empty) database; the caller commits.
    Returns the header."""
    meta, rows = read(path)
    tables = {t.name: t for t in _tables()}
    narrow: dict[tuple[str, frozenset[str]], Table] = {}
    for name, row in rows:
        key = (name, frozenset(row))
        if key not in narrow:  # only the dumped columns, no client-side defaults
            columns = [Column(c.name, c.type, primary_key=c.primary_key) for c in tables[name].c]
            narrow[key] = Table(name, MetaData(), *(c for c in columns if c.name in row))
        session.execute(insert(narrow[key]), [row])
    last = session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1))
    session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=last or 0))
    return meta
