"""Retention limits, importable by ``shared.settings`` without the database layer.

EU AI Act Art. 19 and 26(6) keep automatically generated logs of a high-risk system for at
least six months: the floor is never below :data:`MINIMUM_FLOOR_DAYS`, and the configured
retention never below the floor. The purge itself is :func:`shared.audit.retention.purge`.
"""

from __future__ import annotations

MINIMUM_FLOOR_DAYS = 183


class RetentionError(ValueError):
    """A retention policy below the floor."""


def check_policy(*, retention_days: int, floor_days: int) -> None:
    if floor_days < MINIMUM_FLOOR_DAYS:
        raise RetentionError(f"the retention floor is at least {MINIMUM_FLOOR_DAYS} days")
    if retention_days < floor_days:
        raise RetentionError(f"retention ({retention_days} d) is below the floor ({floor_days} d)")
