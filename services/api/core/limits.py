"""Limits on what one request may take: the body size, enforced while the body streams in
(Content-Length may be absent or lie), the time its body may take to arrive, and a share of the
memory budget for decoding images."""

from __future__ import annotations

import asyncio
import json
import threading
import time
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
        await send_problem(send, 413, "Payload too large", detail)


async def send_problem(
    send: Send, status: int, title: str, detail: str, *, close: bool = False
) -> None:
    """Answer with a problem+json directly from a middleware (``close``: and end the
    connection, for a request whose body was not read to its end)."""
    body = json.dumps(problem_body(status, title, detail)).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTimeout(Exception):
    pass


class BodyReadTimeout:
    """A client that sends its headers and then stalls (or dribbles) its body is answered 408
    and its connection closed: at most ``read_timeout_s`` between two parts of a body (and
    before the first), at most ``total_timeout_s`` for all of it. Uvicorn bounds only the idle
    time between requests; without this a stalled body holds its connection and its request
    forever. Nothing waits once the body is complete (a stream's wait for the client to
    disconnect is not a body read)."""

    def __init__(self, app: ASGIApp, *, read_timeout_s: float, total_timeout_s: float) -> None:
        self.app = app
        self.read_timeout_s = read_timeout_s
        self.total_timeout_s = total_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.total_timeout_s
        body_done = False
        response_started = False
        timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_done, response_started, timed_out
            if body_done:
                return await receive()
            wait = min(self.read_timeout_s, deadline - time.monotonic())
            try:
                async with asyncio.timeout(max(wait, 0)):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not response_started:
                    response_started = True
                    await send_problem(send, 408, "Request timeout", self._detail(), close=True)
                raise BodyTimeout from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return  # the 408 is the answer; whatever the app made of the error is dropped
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except Exception:
            if not timed_out:
                raise

    def _detail(self) -> str:
        return (
            f"the request body did not arrive in time: at most {self.read_timeout_s:g} s between "
            f"its parts and {self.total_timeout_s:g} s in all; nothing was recorded"
        )
