"""Build the demo bundles, idempotently and atomically.

``build_demo_bundles(out)`` writes ``chest-xray-demo/clean``, ``chest-xray-demo/confounded`` and
``breast-cancer-gbt/v1`` under ``out``. A bundle whose manifest records the current builder
version (``model_card["builder_version"]``) is left alone. A bundle is built in a staging folder
``out/.staging-*/<name>/<version>/`` (too deep for ``Registry.scan``'s ``*/*/manifest.json``),
checked (by default with ``load_bundle``; ``xai models build-demo`` passes the admission
check, so demo bundles take the way in every model takes) and only then renamed into place; a
stale version is moved aside first, so a reader never sees a half-written bundle (at worst, for
an instant, none).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.worker.demo import breast_cancer, chest_xray_bundle
from shared.bundles.registry import BundleError, load_bundle

Log = Callable[[str], object]
Check = Callable[[Path], str]
"""Checks a built bundle folder before it is moved into place; raises to refuse it, returns a
line for the log. The admission check is passed in by the CLI (the worker never imports it)."""


def load_check(folder: Path) -> str:
    load_bundle(folder)
    return "manifest valid"


@dataclass(frozen=True)
class BundleBuilder:
    """Writes one bundle into the folder it is given and returns the numbers it measured."""

    name: str
    version: str
    builder_version: str
    build: Callable[[Path], dict[str, Any]]


def _chest_xray(version: str) -> BundleBuilder:
    def build(folder: Path) -> dict[str, Any]:
        return chest_xray_bundle.build_chest_xray_bundle(folder, version=version)

    return BundleBuilder(chest_xray_bundle.NAME, version, chest_xray_bundle.BUILDER_VERSION, build)


DEMO_BUILDERS = (
    _chest_xray("clean"),
    _chest_xray("confounded"),
    BundleBuilder(
        breast_cancer.NAME,
        breast_cancer.VERSION,
        breast_cancer.BUILDER_VERSION,
        breast_cancer.build_breast_cancer_bundle,
    ),
)


def is_current(folder: Path, builder_version: str) -> bool:
    """Whether ``folder`` holds a valid bundle made by this builder version."""
    try:
        bundle = load_bundle(folder)
    except BundleError:
        return False
    return bundle.manifest.model_card.get("builder_version") == builder_version


def build_bundle(
    out: Path,
    builder: BundleBuilder,
    *,
    force: bool = False,
    log: Log = print,
    check: Check = load_check,
) -> Path:
    """Build one bundle into ``out/<name>/<version>`` unless it is current; return that folder."""
    target = out / builder.name / builder.version
    label = f"{builder.name}/{builder.version}"
    if not force and is_current(target, builder.builder_version):
        log(f"{label}: up to date (builder version {builder.builder_version})")
        return target
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=out) as staging:
        folder = Path(staging) / builder.name / builder.version
        metrics = builder.build(folder)
        checked = check(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(Path(staging) / "replaced")
        folder.rename(target)
    figures = ", ".join(f"{key} {value:.4g}" for key, value in metrics.items())
    log(
        f"{label}: built and checked in {time.perf_counter() - started:.1f} s; {figures}; {checked}"
    )
    return target


def build_demo_bundles(
    out: Path, *, force: bool = False, log: Log = print, check: Check = load_check
) -> list[Path]:
    """Build the demo bundles under ``out`` (those not already current); return their folders."""
    return [
        build_bundle(out, builder, force=force, log=log, check=check) for builder in DEMO_BUILDERS
    ]
