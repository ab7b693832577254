"""Tombstone ranges named by purge records, and the checkpoint file format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.audit.checkpoint import Checkpoint, CheckpointError
from shared.audit.tombstones import Tombstones, to_ranges
from shared.retention import MINIMUM_FLOOR_DAYS, RetentionError, check_policy


def test_ranges_compress_sorted_runs() -> None:
    assert to_ranges([7, 3, 4, 5, 12, 4]) == [[3, 5], [7, 7], [12, 12]]
    assert to_ranges([]) == []


def test_tombstones_hold_exactly_the_named_seqs_across_purges() -> None:
    tombstones = Tombstones()
    tombstones.add(20, [[1, 10], [14, 14]])
    tombstones.add(30, [(5, 5), (21, 22)])  # overlaps are harmless
    inside = {*range(1, 11), 14, 21, 22}
    assert {s for s in range(0, 40) if s in tombstones} == inside


@pytest.mark.parametrize("ranges", [[[5, 20]], [[3, 1]], [["a", 2]]])
def test_a_purge_record_cannot_name_itself_a_later_record_or_nonsense(ranges: list) -> None:
    with pytest.raises(ValueError):
        Tombstones().add(20, ranges)


def test_checkpoint_round_trip_and_malformed_files() -> None:
    checkpoint = Checkpoint(seq=3, hash="a" * 64, count=3, created_at=datetime.now(UTC))
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint
    good = checkpoint.to_json()
    for bad in (
        {},
        {**good, "format": "other"},
        {**good, "seq": -1},
        {**good, "seq": "3"},
        {**good, "hash": "A" * 64},
        {**good, "created_at": "2026-01-01T00:00:00"},
        [],
    ):
        with pytest.raises(CheckpointError):
            Checkpoint.from_json(bad)


def test_the_floor_is_six_months_and_retention_never_below_it() -> None:
    assert MINIMUM_FLOOR_DAYS == 183
    check_policy(retention_days=183, floor_days=183)
    check_policy(retention_days=3650, floor_days=365)
    for retention, floor in ((182, 183), (365, 400), (3650, 90)):
        with pytest.raises(RetentionError):
            check_policy(retention_days=retention, floor_days=floor)
