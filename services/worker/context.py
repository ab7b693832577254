"""Per-process resources of a worker: database sessions and loaded models.

Made on first use inside the process that runs tasks (a prefork child), so nothing crosses a
fork and CUDA is never initialised in the parent. A new pid gets a new context.

The *libraries*, though, are imported once in the parent (:func:`preload_libraries`): a pool
process forked afterwards inherits them, so one that replaces a crashed or recycled process
starts working at once instead of spending ~10 s of CPU on imports.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from services.worker.explainers.base import LoadedModel
from shared.bundles.registry import Bundle, Registry, UnknownModel
from shared.db.engine import make_engine, make_session_factory
from shared.methods.spec import image_network
from shared.settings import Settings, get_settings

log = logging.getLogger(__name__)


# Imported in the parent before the pool forks: importing starts no thread and touches no
# device (no CUDA, no OpenMP pool); those start on first use, in each pool process.
_PRELOAD = (
    "torch",
    "onnx",
    "onnxruntime",
    "captum.attr",
    "shap",
    "scipy.ndimage",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "services.worker.twin",
    "services.worker.rendering_defaults",
)


def preload_libraries() -> None:
    """Import what jobs need (torch, captum, shap, the explainers, rendering)."""
    from services.worker.explainers import get_explainer
    from shared.methods import METHODS

    for module in _PRELOAD:
        import_module(module)
    for method in METHODS:
        get_explainer(method)


def choose_device(preference: str) -> str:
    import torch

    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            log.warning("XAI_WORKER_DEVICE=cuda but CUDA is unavailable: falling back to cpu")
            return "cpu"
        return "cuda"
    return "cpu"


@dataclass
class ModelCache:
    """The served bundles, loaded once per process: ORT session + torch twin of the same bytes
    (``None`` when onnx2torch cannot convert them: the ORT-only methods still run). A job for a
    bundle the registry does not hold (added since) scans ``root`` again."""

    registry: Registry
    device: str
    threads: int
    root: Path | None = None
    _loaded: dict[tuple[str, str, str], LoadedModel] = field(default_factory=dict)

    def load(self, *, name: str, version: str, sha256: str) -> LoadedModel:
        """By name, version *and* bytes: two bundles may share ``model.onnx`` and differ in
        their manifests (labels, Grad-CAM layer, parameters); each job gets its own."""
        try:
            bundle = self.registry.get_by_sha256(name, version, sha256)
        except UnknownModel:
            if self.root is None:
                raise
            self.registry = Registry.scan(self.root)
            bundle = self.registry.get_by_sha256(name, version, sha256)
        key = (bundle.name, bundle.version, bundle.sha256)
        if key not in self._loaded:
            self._loaded[key] = self._load(bundle)
        return self._loaded[key]

    def _load(self, bundle: Bundle) -> LoadedModel:
        import onnxruntime as ort

        from services.worker.twin import load_twin

        model_bytes = bundle.read_model_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if self.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        session = ort.InferenceSession(model_bytes, options, providers=providers)
        twin = None
        if image_network(bundle.manifest):  # tabular methods call the ORT session only
            try:
                twin = load_twin(model_bytes).to(self.device)
            except Exception as exc:  # noqa: BLE001 - onnx2torch's errors are untyped too
                # The gradient explainers refuse a model without a twin; the ORT-only methods
                # (superpixel_shap) explain it still, as admission found.
                log.warning(
                    "no torch twin for %s/%s (sha256 %s): %s: %s", bundle.name, bundle.version,
                    bundle.sha256[:12], type(exc).__name__, exc,
                )  # fmt: skip
        return LoadedModel(bundle=bundle, session=session, twin=twin, device=self.device)


@dataclass
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    models: ModelCache
    device: str
    name: str


_context: WorkerContext | None = None
_pid: int | None = None


def get_context() -> WorkerContext:
    global _context, _pid
    if _context is None or _pid != os.getpid():
        _context, _pid = _make_context(get_settings()), os.getpid()
    return _context


def _make_context(settings: Settings) -> WorkerContext:
    import torch

    torch.set_num_threads(settings.worker_torch_threads)
    device = choose_device(settings.worker_device)
    engine = (
        make_engine(settings.database_url, pool_size=2)
        if not settings.is_sqlite
        else make_engine(settings.database_url)
    )
    return WorkerContext(
        settings=settings,
        sessions=make_session_factory(engine),
        models=ModelCache(
            registry=Registry.scan(settings.bundles_dir),
            device=device,
            threads=settings.worker_torch_threads,
            root=settings.bundles_dir,
        ),
        device=device,
        name=f"{socket.gethostname()}:{os.getpid()}",
    )
