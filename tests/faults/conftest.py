"""Fault-injection suite: marker, bundles, seeds and the one summary line per scenario."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.checker import Verdict

SUMMARY = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault injection (kills, broker and database outages, poison jobs)"
    )
    config.stash[SUMMARY] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/faults/" in str(item.path):
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("fault injection")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def seed() -> int:
    """The nemesis' seed: ``XAI_FAULTS_SEED`` replays a run, else a fresh one (printed)."""
    return int(os.environ.get("XAI_FAULTS_SEED") or random.randrange(2**31))


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[Verdict], None]:
    def record(verdict: Verdict) -> None:
        line = verdict.line()
        print(line)
        request.config.stash[SUMMARY].append(line)

    return record


@pytest.fixture(scope="session")
def fault_bundles(bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundles, plus ``poison-cnn``: tiny-cnn's model with a manifest that poisons two
    methods. Its Grad-CAM layer does not exist (gradcam refuses: an expected failure), and
    SmoothGrad asks for 10**12 noise samples (torch cannot allocate them and raises a
    RuntimeError: an unexpected failure, retried until the attempts are spent).
    Integrated Gradients is merely slow (256 passes of one step), a job to kill mid-run."""
    from shared.bundles.manifest import Manifest
    from shared.bundles.registry import MANIFEST_FILE, write_manifest

    root = tmp_path_factory.mktemp("fault-bundles")
    shutil.copytree(bundles_dir, root, dirs_exist_ok=True)
    poison = root / "poison-cnn" / "v1"
    shutil.copytree(bundles_dir / "tiny-cnn" / "v1", poison)
    manifest = Manifest.model_validate_json((poison / MANIFEST_FILE).read_text())
    explanations = manifest.explanations.model_copy(
        update={
            "gradcam_layer": "no-such-layer",
            "parameters": {
                "smoothgrad": {"nt_samples": 10**12},
                "integrated_gradients": {"n_steps": 256, "internal_batch_size": 1},
            },
        }
    )
    write_manifest(
        poison,
        manifest.model_copy(
            update={"name": "poison-cnn", "default": False, "explanations": explanations}
        ),
    )
    return root
