"""Finding and loading model bundles; a bundle's identity is the SHA-256 of its ``model.onnx``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from shared.bundles.admission import REPORT_FILE, Admission
from shared.bundles.manifest import Manifest
from shared.errors import FieldError, NotFound
from shared.methods import manifest_problems

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"


class BundleError(Exception):
    """A bundle folder that cannot be served (missing file, invalid manifest)."""


class UnknownModel(NotFound):
    """No bundle has the requested name or version; the offending field is ``model``."""

    title = "Unknown model"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[FieldError(field="model", reason=detail)])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Bundle:
    path: Path
    manifest: Manifest
    sha256: str
    manifest_sha256: str = ""
    """SHA-256 of the ``manifest.json`` bytes the manifest was read from."""
    admission: Admission | None = None
    """Its passed admission report (:func:`load_admitted`); None: not admitted."""

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def file(self, relative: str) -> Path:
        """A file inside the bundle; refuses paths that leave the bundle folder."""
        target = (self.path / relative).resolve()
        if not target.is_relative_to(self.path.resolve()):
            raise BundleError(f"{relative!r} points outside bundle {self.path}")
        return target

    def read_model_bytes(self) -> bytes:
        """The model bytes, checked against the identity the bundle was loaded with."""
        data = self.model_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise BundleError(f"{self.model_path} changed since it was loaded")
        return data

    @property
    def admitted(self) -> bool:
        """Whether the bundle has a passed admission report for these model bytes."""
        return self.admission is not None

    @property
    def unavailable_methods(self) -> dict[str, str]:
        """Method -> why admission found it unusable for this model (none if not admitted)."""
        return self.admission.report.unavailable_methods if self.admission else {}


@dataclass(frozen=True)
class Rejected:
    """A bundle folder that is not served, and why (the file and field at fault)."""

    path: Path
    name: str
    version: str
    reason: str


def load_bundle(path: Path) -> Bundle:
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file() or not (path / MODEL_FILE).is_file():
        raise BundleError(f"{path} needs {MODEL_FILE} and {MANIFEST_FILE}")
    try:
        text = manifest_path.read_bytes()
        manifest = Manifest.model_validate(json.loads(text))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'manifest'}: {e['msg']}"
            for e in exc.errors()
        )
        raise BundleError(f"{manifest_path}: {problems}") from None
    except (ValueError, OSError) as exc:
        raise BundleError(f"{manifest_path}: {exc}") from exc
    refused = manifest_problems(manifest)
    if refused:
        problems = "; ".join(f"{p.field}: {p.reason}" for p in refused)
        raise BundleError(f"{manifest_path}: {problems}")
    if (manifest.name, manifest.version) != (path.parent.name, path.name):
        raise BundleError(f"{manifest_path} names {manifest.name}/{manifest.version}")
    return Bundle(
        path=path,
        manifest=manifest,
        sha256=sha256_file(path / MODEL_FILE),
        manifest_sha256=hashlib.sha256(text).hexdigest(),
    )


def load_admitted(path: Path) -> Bundle:
    """:func:`load_bundle`, with the bundle's ``admission.json`` if it has one. A report that
    is not a report, was written for other model bytes, or did not pass is a BundleError: such
    a bundle is not served. A bundle without a report is served as not admitted (its methods
    are the registry's for its manifest)."""
    bundle = load_bundle(path)
    report_path = path / REPORT_FILE
    if not report_path.is_file():
        return bundle
    try:
        admission = Admission.parse(report_path.read_bytes())
    except (ValueError, OSError) as exc:
        raise BundleError(f"{report_path}: not an admission report: {exc}") from None
    report = admission.report
    if report.sha256 != bundle.sha256:
        raise BundleError(
            f"{report_path} was written for model sha256 {str(report.sha256)[:12]}…, "
            f"{MODEL_FILE} is {bundle.sha256[:12]}…: run `xai models validate {path}`"
        )
    if not report.passed:
        raise BundleError(f"{report_path}: {report.failure() or 'admission failed'}")
    return dataclasses.replace(bundle, admission=admission)


class Registry:
    """The bundles found under one folder, by name and version."""

    def __init__(self, bundles: list[Bundle], rejected: Iterable[Rejected] = ()) -> None:
        self._by_key = {(b.name, b.version): b for b in bundles}
        self.rejected = sorted(rejected, key=lambda r: (r.name, r.version))

    @classmethod
    def scan(cls, root: Path) -> Registry:
        """Every bundle folder under ``root`` (:func:`load_admitted`): one that fails to load
        is listed in ``rejected`` with its reason (and logged), never stopping the others."""
        if not root.is_dir():
            return cls([])
        folders = sorted(p.parent for p in root.glob(f"*/*/{MANIFEST_FILE}"))
        bundles: list[Bundle] = []
        rejected: list[Rejected] = []
        for folder in folders:
            try:
                bundles.append(load_admitted(folder))
            except BundleError as exc:
                log.warning("bundle %s/%s rejected: %s", folder.parent.name, folder.name, exc)
                rejected.append(Rejected(folder, folder.parent.name, folder.name, str(exc)))
        return cls(bundles, rejected)

    def __len__(self) -> int:
        return len(self._by_key)

    def all(self) -> list[Bundle]:
        return [self._by_key[key] for key in sorted(self._by_key)]

    def get(self, name: str, version: str | None = None) -> Bundle:
        if version is not None:
            try:
                return self._by_key[(name, version)]
            except KeyError:
                raise UnknownModel(f"model {name!r} has no version {version!r}") from None
        versions = [b for (n, _), b in sorted(self._by_key.items()) if n == name]
        if not versions:
            raise UnknownModel(f"no model named {name!r}")
        defaults = [b for b in versions if b.manifest.default]
        return defaults[0] if defaults else versions[-1]

    def get_by_sha256(self, name: str, version: str, sha256: str) -> Bundle:
        """The bundle that served a record: refuses one whose bytes changed since."""
        bundle = self.get(name, version)
        if bundle.sha256 != sha256:
            raise UnknownModel(
                f"{name}/{version} is now {bundle.sha256[:12]}…, the record pinned {sha256[:12]}…"
            )
        return bundle


def write_manifest(folder: Path, manifest: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True)
    (folder / MANIFEST_FILE).write_text(text + "\n")
