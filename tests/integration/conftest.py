"""Fixtures shared by integration tests of several folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.admitted import build_admitted_bundles


@pytest.fixture(scope="session")
def admitted_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny-cnn`` admitted for real, and variants of its report (``tests.support.admitted``)."""
    return build_admitted_bundles(tmp_path_factory.mktemp("admitted"))
