"""Installed package versions for the record, read once per process.

``importlib.metadata.version`` parses package metadata on every call (~2 ms each here): done per
request or per job it was a measurable part of the hot path.
"""

from __future__ import annotations

import platform
from functools import cache
from importlib.metadata import version


@cache
def _version(package: str) -> str:
    return version(package)


def package_versions(*packages: str, python: bool = False) -> dict[str, str]:
    """A fresh dict of ``package -> version`` (and ``python`` if asked)."""
    versions = {package: _version(package) for package in packages}
    if python:
        versions["python"] = platform.python_version()
    return versions
