"""Loading the bundles folder into a :class:`ModelRuntime`, and reloading it when it changes.

A reload scans the folder again, keeps the session of every model whose bytes it already
serves, builds sessions for new bytes off the event loop, then replaces ``AppState.runtime``
in one assignment. A request that took the old runtime keeps it (and its sessions) until it
finishes; the garbage collector closes what nobody holds any more.

A version is immutable: new bytes under a name/version already served are refused (listed as
rejected) and the bytes loaded first stay served until that version's folder is removed.

Before the API serves a set of bundles (at start-up, and before each reload replaces the
runtime), the admission of each admitted bundle is recorded in the audit chain
(:func:`shared.audit.admissions.record_admissions`: once per model, manifest and report). When
the database cannot take it, the bundles are still served and the failure is logged; the next
reload or restart records it.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import onnxruntime as ort
from sqlalchemy.exc import SQLAlchemyError

from services.api.core.deps import AppState
from services.api.core.runtime import ModelRuntime, providers, session_options
from shared.audit import AuditChainError
from shared.audit.admissions import record_admissions
from shared.bundles.registry import Bundle, Registry, Rejected

log = logging.getLogger(__name__)
QUIET_MS = 500  # reload once the folder has had no change for this long...
DEBOUNCE_MS = 5000  # ...or after this long of continuous changes


def load_models(
    root: Path, *, intra_op_threads: int, previous: ModelRuntime | None = None
) -> ModelRuntime:
    """Every loadable bundle under ``root``; the others are in ``registry.rejected``."""
    scanned = Registry.scan(root)
    rejected = list(scanned.rejected)
    served = {(b.name, b.version): b for b in previous.registry.all()} if previous else {}
    bundles: list[Bundle] = []
    for bundle in scanned.all():
        old = served.get((bundle.name, bundle.version))
        if old is not None and old.sha256 != bundle.sha256:
            reason = (
                f"{bundle.model_path}: versions are immutable: {bundle.name}/{bundle.version} "
                f"is served as {old.sha256[:12]}…, the folder now holds {bundle.sha256[:12]}… "
                "(publish new bytes as a new version)"
            )
            log.warning("bundle %s/%s rejected: %s", bundle.name, bundle.version, reason)
            rejected.append(Rejected(bundle.path, bundle.name, bundle.version, reason))
            bundle = old
        bundles.append(bundle)
    options = session_options(intra_op_threads)
    sessions: dict[str, ort.InferenceSession] = {}
    failed: set[str] = set()
    for bundle in bundles:
        if bundle.sha256 in sessions or bundle.sha256 in failed:
            continue
        session = previous.session(bundle.sha256) if previous else None
        if session is None:
            try:
                data = bundle.read_model_bytes()
                session = ort.InferenceSession(data, options, providers=providers())
            except Exception as exc:  # ONNX Runtime raises many error types for a bad graph
                failed.add(bundle.sha256)
                reason = f"{bundle.model_path}: ONNX Runtime cannot load it: {exc}"
                log.warning("bundle %s/%s rejected: %s", bundle.name, bundle.version, reason)
                continue
        sessions[bundle.sha256] = session
    for bundle in bundles:
        if bundle.sha256 in failed:
            reason = f"{bundle.model_path}: ONNX Runtime cannot load it"
            rejected.append(Rejected(bundle.path, bundle.name, bundle.version, reason))
    registry = Registry([b for b in bundles if b.sha256 in sessions], rejected)
    return ModelRuntime(registry, sessions)


class BundleWatch:
    """Reloads ``holder.runtime`` when a file under ``root`` changes (debounced)."""

    def __init__(self, holder: AppState, root: Path, *, intra_op_threads: int) -> None:
        self._holder = holder
        self._root = root
        self._threads = intra_op_threads
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Record the admissions of the bundles loaded at start-up, then watch the folder."""
        await asyncio.to_thread(self._record_admissions, self._holder.runtime.registry)
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                self._task.cancel()

    async def reload(self) -> None:
        runtime = await asyncio.to_thread(
            load_models, self._root, intra_op_threads=self._threads, previous=self._holder.runtime
        )
        await asyncio.to_thread(self._record_admissions, runtime.registry)
        self._holder.runtime = runtime
        registry = runtime.registry
        log.info(
            "bundles reloaded: %d served (%s), %d rejected",
            len(registry),
            ", ".join(f"{b.name}/{b.version}" for b in registry.all()) or "none",
            len(registry.rejected),
        )

    def _record_admissions(self, registry: Registry) -> None:
        try:
            record_admissions(self._holder.sessions, registry.all())
        except (SQLAlchemyError, AuditChainError) as exc:
            log.warning("admissions not recorded (bundles still served): %s", exc)

    async def _watch(self) -> None:
        from watchfiles import awatch

        if not self._root.is_dir():
            log.warning("bundles folder %s does not exist: not watching it", self._root)
            return
        async for _changes in awatch(
            self._root, debounce=DEBOUNCE_MS, step=QUIET_MS, stop_event=self._stop
        ):
            try:
                await self.reload()
            except Exception:  # a failed reload keeps the runtime already served
                log.exception("reloading the bundles of %s failed", self._root)
