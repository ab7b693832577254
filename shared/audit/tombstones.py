"""Which payloads a retention purge removed, as the ``purge`` records state it.

A ``purge`` record's payload lists the sequence numbers whose payloads it deleted as sorted,
disjoint, inclusive ranges: ``"tombstoned": [[3, 7], [12, 12]]``. The verifier accepts a missing
payload only if a *later* purge record names its seq; any other missing payload is tampering.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence


def to_ranges(seqs: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


class Tombstones:
    """The union of every purge record's ranges, each valid only below its purge record."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []

    def add(self, purge_seq: int, ranges: Iterable[Sequence[int]]) -> None:
        """The ``tombstoned`` ranges of the purge record at ``purge_seq``."""
        for first, last in ranges:
            if not (isinstance(first, int) and isinstance(last, int) and first <= last):
                raise ValueError(f"purge record {purge_seq}: malformed range {[first, last]}")
            if last >= purge_seq:
                raise ValueError(f"purge record {purge_seq} names a later record ({last})")
            bisect.insort(self._ranges, (first, last))
        self._ranges = _merged(self._ranges)

    def __contains__(self, seq: int) -> bool:
        index = bisect.bisect_right(self._ranges, (seq, float("inf"))) - 1
        return index >= 0 and self._ranges[index][0] <= seq <= self._ranges[index][1]


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in ranges:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged
