"""``xai models add | validate | schema``: admitting a model bundle.

``services.cli.main.build_parser`` calls :func:`register` with the ``models`` subparsers.
``add`` writes the bundle into a staging folder beside its target, admits it there and moves it
into ``<bundles>/<name>/<version>/`` only when it passes, so a refused model is never served.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from services.cli.config import command_settings
from services.cli.model_inputs import (
    background_rows,
    features_of,
    read_labels,
    write_background,
)

if TYPE_CHECKING:
    from services.admission import AdmissionReport

TASKS = ("image-classification", "tabular-classification")


def register(models: argparse._SubParsersAction) -> None:
    add = models.add_parser("add", help="admit an ONNX model as a bundle", description=_ADD)
    add.set_defaults(handler=_add)
    add.add_argument("model", type=Path, help="the model.onnx file")
    add.add_argument("--name", required=True)
    add.add_argument("--version", required=True)
    labels = add.add_mutually_exclusive_group()
    labels.add_argument(
        "--labels",
        help="in output order, comma-separated: the classes, the findings (multi-label) or the "
        "value's name (regression)",
    )
    labels.add_argument("--labels-file", type=Path, help="one label per line")
    add.add_argument(
        "--task",
        choices=[*TASKS, "single-label", "multi-label", "regression"],
        help="only where the graph is ambiguous: multi-label for a head ending in plain logits "
        "(a sigmoid is applied to each), regression to read a one-column Sigmoid as a score; "
        "otherwise the mode is read from the head",
    )
    add.add_argument(
        "--thresholds", help="multi-label: one per finding, comma-separated, or one for all"
    )
    add.add_argument("--unit", help="regression: the value's unit (e.g. mmHg, %%)")
    add.add_argument("--reference-range", help="regression: LOW,HIGH of the usual values")
    add.add_argument("--mean", help="image normalisation mean, one value or one per channel")
    add.add_argument("--std", help="image normalisation std, one value or one per channel")
    add.add_argument("--input-size", help="H,W of a dynamic-shape image input")
    add.add_argument("--positive", help="single-label: the class of interest (default: index 1)")
    add.add_argument("--background", type=Path, help="tabular: background rows (.csv or .npy)")
    add.add_argument(
        "--features-file", type=Path, help="tabular: feature names (one a line) or JSON features"
    )
    add.add_argument(
        "--examples", type=Path, help="a folder of example inputs copied into the bundle"
    )
    add.add_argument("--description", default="")
    add.add_argument("--bundles-dir", type=Path, help="default: XAI_BUNDLES_DIR")
    add.add_argument("--json", action="store_true", help="print the admission report as JSON")
    validate = models.add_parser("validate", help="re-run the admission check of a bundle folder")
    validate.set_defaults(handler=_validate)
    validate.add_argument("bundle", type=Path)
    validate.add_argument("--json", action="store_true")
    schema = models.add_parser("schema", help="print the manifest's JSON Schema")
    schema.set_defaults(handler=_schema)


_ADD = (
    "Inspect MODEL.onnx, draft its manifest from the graph and the flags, write the bundle "
    "(model.onnx, manifest.json, background.npy) and admit it. Exit 1 names the failing step."
)


def _fail(message: str) -> int:
    print(f"xai models: {message}", file=sys.stderr)
    return 1


def _floats(text: str | None, flag: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"{flag} {text!r}: comma-separated numbers expected") from None


def _pair(text: str | None, flag: str) -> tuple[float, float] | None:
    values = _floats(text, flag)
    if values is None:
        return None
    if len(values) != 2:
        raise ValueError(f"{flag} {text!r}: two numbers LOW,HIGH expected")
    return values[0], values[1]


def _add(args: argparse.Namespace) -> int:
    from services.admission import AdmissionError, DraftFlags, admit, draft_manifest, inspect_model
    from services.admission.report import write_report
    from shared.bundles.registry import MODEL_FILE, write_manifest

    try:
        data = args.model.read_bytes()
        size = tuple(int(v) for v in args.input_size.split(",")) if args.input_size else None
        facts = inspect_model(data, image_size=size)  # type: ignore[arg-type]
        rows, names = background_rows(args.background) if args.background else (None, None)
        features = features_of(args.features_file, rows, names)
        flags = DraftFlags(
            name=args.name, version=args.version, task=args.task,
            labels=read_labels(args.labels, args.labels_file), mean=_floats(args.mean, "--mean"),
            std=_floats(args.std, "--std"), image_size=size, features=features,  # type: ignore[arg-type]
            background_file="background.npy" if rows is not None else None,
            positive_label=args.positive, description=args.description,
            thresholds=_floats(args.thresholds, "--thresholds"), unit=args.unit,
            reference_range=_pair(args.reference_range, "--reference-range"),
        )  # fmt: skip
        manifest = draft_manifest(facts, flags)
    except AdmissionError as exc:
        return _fail(str(exc))
    except (OSError, ValueError) as exc:
        return _fail(f"{type(exc).__name__}: {exc}")
    bundles = args.bundles_dir or command_settings().bundles_dir
    target = bundles / manifest.name / manifest.version
    refusal = _immutable(target, data)
    if refusal:
        return _fail(refusal)
    bundles.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=bundles) as staging:
        folder = Path(staging) / manifest.name / manifest.version
        folder.mkdir(parents=True)
        (folder / MODEL_FILE).write_bytes(data)
        if rows is not None:
            write_background(folder / "background.npy", rows)
        if args.examples:
            shutil.copytree(args.examples, folder / "examples")
        write_manifest(folder, manifest)
        report = admit(folder)
        kept = tuple(
            m for m in manifest.explanations.default_methods if m in report.available_methods
        )
        if not kept:  # e.g. an image model without a twin: what admission found working
            kept = report.available_methods
        if report.passed and kept != manifest.explanations.default_methods:
            update = manifest.explanations.model_copy(update={"default_methods": kept})
            write_manifest(folder, manifest.model_copy(update={"explanations": update}))
        report = report.model_copy(update={"bundle": str(target)})
        write_report(folder, report)
        _print(report, args.json)
        if not report.passed:
            return _fail(report.failure() or "admission failed")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)  # the same model bytes and manifest (see _immutable)
        folder.rename(target)
    print(f"admitted {manifest.name}/{manifest.version} into {target}", file=sys.stderr)
    return 0


def _immutable(target: Path, data: bytes) -> str | None:
    """A version folder is written once: other model bytes under it are refused."""
    existing = target / "model.onnx"
    if existing.is_file() and existing.read_bytes() != data:
        return (
            f"{target} already holds a different model.onnx; versions are immutable, "
            "use a new --version"
        )
    return None


def _print(report: AdmissionReport, as_json: bool) -> None:
    from services.admission.report import render_table

    print(report.model_dump_json(indent=2) if as_json else render_table(report))


def _validate(args: argparse.Namespace) -> int:
    from services.admission import admit

    report = admit(args.bundle)
    _print(report, args.json)
    return 0 if report.passed else _fail(report.failure() or "admission failed")


def _schema(args: argparse.Namespace) -> int:
    from services.admission.schema import manifest_schema

    print(json.dumps(manifest_schema(), indent=2))
    return 0
