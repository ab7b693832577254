"""The browser tests' stack: real ``xai serve`` and ``xai worker`` processes on a fresh Postgres
database and a private Redis, serving the demo bundles, driven by Debian's Chromium through
Playwright (never a browser Playwright downloads). ``outputs_stack`` is a second, lighter
stack serving a multi-label and a regression bundle built at test time (a test module that
overrides ``stack`` with it gets its ``page`` too).

Authentication is real: one token per role is issued in the stack's database (as
``xai tokens create`` does); the pages are signed in with them and the API is called with them.

The API also serves ``tiny-cnn``; the worker's copy of that bundle has other bytes, so its jobs
fail for real (the worker refuses a model whose sha256 is not the one pinned by the
prediction) and the ops view has a genuine failure to show.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Request, sync_playwright

from shared.db.migrate import upgrade
from shared.db.models import Role
from tests.conftest import make_settings
from tests.support import servers
from tests.support.bundles import (
    build_multiclass_image_bundle,
    build_multilabel_image_bundle,
    build_regression_tabular_bundle,
)
from tests.support.processes import settings_env, wait_for, xai_process
from tests.support.tokens import Token, issue

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1200, "height": 900}


@dataclass
class Stack:
    """The running stack; ``api`` carries no token, ``as_(role)`` is a client signed in as one."""

    url: str
    api: httpx.Client
    bundles: Path
    database: str
    tokens: dict[Role, Token]
    clients: dict[Role, httpx.Client]

    def example(self, relative: str) -> Path:
        return self.bundles / relative

    def token(self, role: Role | str) -> str:
        return self.tokens[Role(role)].plaintext

    def as_(self, role: Role | str) -> httpx.Client:
        return self.clients[Role(role)]


@dataclass
class BrowserLog:
    """What one page did: its requests (URL, Authorization header), the purpose each stated
    (``X-Audit-Purpose``, or None) and uncaught errors."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    purposes: list[tuple[str, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, request: Request) -> None:
        self.requests.append((request.url, request.headers.get("authorization")))
        self.purposes.append((request.url, request.headers.get("x-audit-purpose")))


@pytest.fixture(scope="session")
def stack(
    pg_admin: str,
    demo_bundles: Path,
    bundles_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    served = root / "bundles"
    shutil.copytree(demo_bundles, served)
    shutil.copytree(bundles_dir / "tiny-cnn", served / "tiny-cnn")
    worker_bundles = root / "worker-bundles"
    shutil.copytree(served, worker_bundles)
    altered = worker_bundles / "tiny-cnn" / "v1" / "model.onnx"
    altered.write_bytes(altered.read_bytes() + b"\0")
    with running_stack(pg_admin, root, served, worker_bundles) as running:
        yield running


@pytest.fixture(scope="session")
def outputs_stack(pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own (no demo bundle to train) serving outputs beyond one class: three
    classes (``tiny-classes``), four findings with thresholds (``tiny-findings``) and a risk
    score with unit and reference range (``tiny-risk``)."""
    root = tmp_path_factory.mktemp("e2e-outputs")
    served = root / "bundles"
    build_multiclass_image_bundle(served)
    build_multilabel_image_bundle(served)
    build_regression_tabular_bundle(served)
    with running_stack(pg_admin, root, served, served) as running:
        yield running


@contextmanager
def running_stack(pg_admin: str, root: Path, served: Path, worker_bundles: Path) -> Iterator[Stack]:
    """``xai serve`` of ``served`` and ``xai worker`` of ``worker_bundles`` on a fresh database
    and a private Redis, one token per role; logs under ``root``."""
    with (
        servers.fresh_database(pg_admin) as database,
        servers.private_redis() as redis,
    ):
        upgrade(database)
        port = servers.free_port()
        settings = make_settings(
            database_url=database, broker_url=redis.url, bundles_dir=served, port=port
        )
        env = settings_env(settings)
        worker_env = settings_env(settings, XAI_BUNDLES_DIR=str(worker_bundles))
        url = f"http://127.0.0.1:{port}"
        tokens = {role: issue(database, role, name=f"e2e {role}") for role in Role}
        with (
            xai_process(["serve"], env, root / "api.log"),
            xai_process(["worker"], worker_env, root / "worker.log"),
            ExitStack() as clients,
        ):
            api = clients.enter_context(httpx.Client(base_url=url, timeout=60))
            signed_in = {
                role: clients.enter_context(
                    httpx.Client(base_url=url, timeout=60, headers=token.headers)
                )
                for role, token in tokens.items()
            }
            wait_for(lambda: _up(api), timeout=120, what="the API to start")
            yield Stack(
                url=url,
                api=api,
                bundles=served,
                database=database,
                tokens=tokens,
                clients=signed_in,
            )


def _up(api: httpx.Client) -> bool:
    try:
        return api.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's Chromium with a fresh, empty profile."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def page(browser_context: BrowserContext, stack: Stack, browser_log: BrowserLog) -> Iterator[Page]:
    """A fresh tab (so a fresh sessionStorage). After the test: no uncaught script error, and no
    request left this origin (no CDN; the pages work offline)."""
    yield from _tab(browser_context, stack, browser_log)


def _tab(context: BrowserContext, stack: Stack, browser_log: BrowserLog) -> Iterator[Page]:
    tab = context.new_page()
    tab.on("request", browser_log.record)
    tab.on("pageerror", lambda error: browser_log.errors.append(str(error)))
    try:
        yield tab
    finally:
        tab.close()
    assert browser_log.errors == [], browser_log.errors
    foreign = [
        url for url, _ in browser_log.requests if not url.startswith((stack.url, "blob:", "data:"))
    ]
    assert foreign == [], foreign
