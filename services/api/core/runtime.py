"""One ONNX Runtime session per served bundle; :mod:`services.api.core.reload` builds a new
``ModelRuntime`` when the bundles folder changes and the API swaps it in whole."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from shared.bundles.outcome import Outcome, OutputError, read_outcome
from shared.bundles.registry import Bundle, Registry, UnknownModel


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    """Threads sized explicitly and spinning off: a busy worker must not double our latency."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def providers() -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class ModelRuntime:
    """A registry and one session per model SHA-256 of its bundles; never changed after it is
    built (a reload builds a new one), so a request holding it keeps working sessions."""

    def __init__(self, registry: Registry, sessions: dict[str, ort.InferenceSession]) -> None:
        self.registry = registry
        self._sessions = sessions

    def __len__(self) -> int:
        return len(self.registry)

    def session(self, sha256: str) -> ort.InferenceSession | None:
        return self._sessions.get(sha256)

    def run(self, bundle: Bundle, tensor: np.ndarray) -> np.ndarray:
        session = self._sessions.get(bundle.sha256)
        if session is None:  # removed by a reload between parsing and inference
            raise UnknownModel(f"model {bundle.name}/{bundle.version} is no longer served")
        manifest = bundle.manifest
        (scores,) = session.run([manifest.output.name], {manifest.input_name: tensor})
        return np.asarray(scores)

    def diagnose(self, bundle: Bundle, tensor: np.ndarray) -> Outcome:
        try:
            return read_outcome(self.run(bundle, tensor), bundle.manifest.output)
        except OutputError as exc:  # admission checks this; a model that changed is a bug
            raise RuntimeError(f"{bundle.name}/{bundle.version}: {exc}") from exc
