"""Installed package versions for the record, read once per process.

``importlib.metadata.version`` parses package metadata on every call (~2 ms each here): done per
request or per job it was a measurable part of the hot path.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

UNKNOWN_COMMIT = "unknown"


@cache
def _version(package: str) -> str:
    return version(package)


def package_versions(*packages: str, python: bool = False) -> dict[str, str]:
    """A fresh dict of ``package -> version`` (and ``python`` if asked)."""
    versions = {package: _version(package) for package in packages}
    if python:
        versions["python"] = platform.python_version()
    return versions


def checkout_commit() -> str:
    """``git rev-parse HEAD`` of the checkout this code runs from, else ``"unknown"`` (an
    installed wheel, an image built without ``XAI_BUILD_COMMIT``, no git)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_COMMIT
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else UNKNOWN_COMMIT


@dataclass(frozen=True)
class Release:
    """The xai-stack release that is running: package version and build commit."""

    version: str
    commit: str


@cache
def release() -> Release:
    """Read once per process: ``xai-stack``'s package version, and ``Settings.build_commit``
    or, where that is empty or no settings are configured (a script, a unit test), the
    checkout's commit (:func:`checkout_commit`)."""
    from pydantic import ValidationError

    from shared.settings import get_settings

    try:
        commit = get_settings().build_commit.strip()
    except ValidationError:
        commit = ""
    return Release(version=_version("xai-stack"), commit=commit or checkout_commit())
