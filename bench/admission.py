"""``xai models add`` per model family: the wall time of the command's own function (inspect,
draft, write the bundle, admit it), median over repeats, and the per-step times its admission
report carries, for one model of each family in :mod:`bench._families`, in ONE run.

    .venv/bin/python -m bench.admission [--families densenet121,xgboost] [--repeats 3] [--dynamo]
        [--keep BUNDLES]  # then: python -m bench.family_latency --bundles BUNDLES

Image models are exported with torch's legacy exporter at opset 17 (``--dynamo``: the dynamo
exporter); random seeded weights, so the figures are the admission's cost, not a model's
quality. Each repeat admits into a fresh bundles folder. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._families import FAMILIES, Exported, Family
from services.admission import AdmissionReport
from services.cli.main import main as xai

SUMMARY_COLUMNS = (
    "family", "model", "exporter", "ONNX MB", "export s", "`models add` p50 s (min–max)",
    "inspect + draft + write s", "methods admitted",
)  # fmt: skip
DEFAULT = [name for name in FAMILIES if name != "efficientnet-b0"]
"""EfficientNet-B0 on request (``--families``): its admission takes minutes here."""


@dataclass(frozen=True)
class Run:
    wall_ms: float
    report: AdmissionReport


def models_add(family: Family, exported: Exported, bundles: Path) -> Run:
    """``xai models add MODEL --json …`` in-process; its report parsed from what it prints."""
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        xai(
            ["models", "add", str(exported.model), "--json", "--name", family.name,
             "--version", "v1", "--bundles-dir", str(bundles), *exported.args]
        )  # fmt: skip
    wall_ms = (time.perf_counter() - started) * 1000
    return Run(wall_ms=wall_ms, report=AdmissionReport.model_validate_json(out.getvalue()))


def step_medians(runs: list[Run]) -> dict[str, float]:
    """Step (and available method) -> median ms over the runs, in the report's order."""
    times: dict[str, list[float]] = {}
    for run in runs:
        for step in run.report.steps:
            times.setdefault(step.step, []).append(step.ms)
        for method in run.report.methods:
            if method.available:
                times.setdefault(method.method, []).append(method.ms)
    return {name: statistics.median(values) for name, values in times.items()}


def markdown_table(header: Sequence[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", default=",".join(DEFAULT), help=f"of {', '.join(FAMILIES)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dynamo", action="store_true", help="torch's dynamo exporter")
    parser.add_argument("--torch-threads", type=int, help="default: torch's own")
    parser.add_argument(
        "--keep", type=Path, help="admit the last repeat into this bundles folder (it stays)"
    )
    args = parser.parse_args()
    families = [FAMILIES[name] for name in args.families.split(",")]
    exporter = "dynamo" if args.dynamo else "legacy-17"

    import onnxruntime
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    work = Path(tempfile.mkdtemp(prefix="bench-admission-"))
    load_before = os.getloadavg()
    summary: list[list[str]] = []
    medians: dict[str, dict[str, float]] = {}
    for family in families:
        started = time.perf_counter()
        exported = family.build(work, exporter)
        export_s = time.perf_counter() - started
        folders = [work / f"bundles-{family.name}-{i}" for i in range(args.repeats)]
        if args.keep:
            folders[-1] = args.keep
        runs = [models_add(family, exported, folder) for folder in folders]
        walls = [r.wall_ms / 1000 for r in runs]
        report = runs[-1].report
        totals = [r.report.total_ms / 1000 for r in runs]
        outside = statistics.median(w - t for w, t in zip(walls, totals, strict=True))
        verdict = ", ".join(report.available_methods) if report.passed else report.failure()
        summary.append(
            [
                family.name, family.summary,
                exporter if family.kind == "image" else "—",
                f"{exported.model.stat().st_size / 1e6:.2f}", f"{export_s:.1f}",
                f"**{statistics.median(walls):.1f}** ({min(walls):.1f}–{max(walls):.1f})",
                f"{outside:.2f}", str(verdict),
            ]
        )  # fmt: skip
        medians[family.name] = step_medians(runs)
        print(f"{family.name}: {statistics.median(walls):.1f} s", flush=True)
    load_after = os.getloadavg()

    print(
        f"\n{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before / "
        f"{load_after[0]:.2f} after; torch {torch.__version__} ({torch.get_num_threads()} "
        f"threads), ONNX Runtime {onnxruntime.__version__}; {args.repeats} repeats each\n"
    )
    print(markdown_table(SUMMARY_COLUMNS, summary))
    columns = list(dict.fromkeys(name for steps in medians.values() for name in steps))
    rows = [
        [name, *(f"{steps[c]:.0f}" if c in steps else "—" for c in columns)]
        for name, steps in medians.items()
    ]
    print("\nPer step and per method, median ms (the admission report's `ms`):\n")
    print(markdown_table(["family", *columns], rows))


if __name__ == "__main__":
    main()
