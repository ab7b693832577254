"""Limits on what one request may take: the body size, enforced while the body streams in
(Content-Length may be absent or lie), and a share of the memory budget for decoding images."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.core.errors import PROBLEM_JSON, Problem, problem_body

DECODE_SHARE_MB = 64
"""The most one image decode takes (peak RSS, ``python -m bench.decode_memory``)."""
DECODE_WAIT_S = 2.0
RETRY_AFTER_S = 2


class DecodeBusy(Problem):
    status = 503
    title = "Busy decoding"


class DecodeBudget:
    """At most ``budget_mb // DECODE_SHARE_MB`` images are decoded at once in this process; a
    request that gets no share within ``DECODE_WAIT_S`` is refused with 503 and Retry-After,
    so concurrent uploads queue briefly or are turned away, never add up past the budget."""

    def __init__(self, *, budget_mb: int, wait_s: float = DECODE_WAIT_S) -> None:
        self.budget_mb = budget_mb
        self.shares = max(1, budget_mb // DECODE_SHARE_MB)
        self.wait_s = wait_s
        self._free = threading.BoundedSemaphore(self.shares)

    @classmethod
    def of(cls, app: Starlette) -> DecodeBudget:
        """The app's budget, made from its settings on first use (in the event loop)."""
        budget: DecodeBudget | None = getattr(app.state, "decode_budget", None)
        if budget is None:
            budget = cls(budget_mb=app.state.xai.settings.decode_memory_budget_mb)
            app.state.decode_budget = budget
        return budget

    @contextmanager
    def share(self) -> Iterator[None]:
        """Hold one share while decoding (called in the threadpool: blocks at most wait_s)."""
        if not self._free.acquire(timeout=self.wait_s):
            raise DecodeBusy(
                f"{self.shares} image decodes are running, the memory budget of "
                f"{self.budget_mb} MiB (XAI_DECODE_MEMORY_BUDGET_MB, {DECODE_SHARE_MB} MiB "
                f"each); nothing was recorded, retry after {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        try:
            yield
        finally:
            self._free.release()


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"request body exceeds the limit of {self.max_bytes} bytes"
        body = json.dumps(problem_body(413, "Payload too large", detail)).encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
