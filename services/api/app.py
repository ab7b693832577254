"""The FastAPI application: state built in the lifespan; bundles reload when they change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.audit import replay_routes as replays
from services.api.audit import report_routes as reports
from services.api.audit import routes as audit
from services.api.core.deps import AppState
from services.api.core.errors import install_error_handlers
from services.api.core.limits import BodyReadTimeout, BodySizeLimit
from services.api.core.openapi import install_components, operation_id
from services.api.core.reload import BundleWatch, load_models
from services.api.explanations import routes as explanations
from services.api.explanations.sources import EVENTS_POLL_S, change_source
from services.api.explanations.watch import JobWatch
from services.api.methods import routes as methods
from services.api.models import routes as models
from services.api.models.summary import SummaryCache
from services.api.ops import health
from services.api.ops import routes as ops
from services.api.pages import routes as pages
from services.api.predictions import routes as predictions
from shared.db.engine import make_engine, make_session_factory
from shared.queue import Publisher, make_client
from shared.settings import Settings, get_settings
from shared.versions import package_versions


def build_state(settings: Settings) -> AppState:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        runtime=load_models(settings.bundles_dir, intra_op_threads=settings.ort_intra_op_threads),
        publisher=Publisher(make_client(settings.broker_url, timeout_s=settings.publish_timeout_s)),
        job_watch=JobWatch(sessions, change_source(settings.database_url, poll_s=EVENTS_POLL_S)),
        summaries=SummaryCache(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.xai = state
        bundle_watch = BundleWatch(
            state, settings.bundles_dir, intra_op_threads=settings.ort_intra_op_threads
        )
        await state.job_watch.start()
        await bundle_watch.start()
        try:
            yield
        finally:
            await bundle_watch.close()
            await state.job_watch.close()
            state.engine.dispose()

    app = FastAPI(
        title="xai-stack",
        version=package_versions("xai-stack")["xai-stack"],
        summary="Diagnosis at once, the explanation of that exact decision seconds later, "
        "and a tamper-evident archive.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    install_components(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        BodyReadTimeout,
        read_timeout_s=settings.body_read_timeout_s,
        total_timeout_s=settings.body_total_timeout_s,
    )
    for router in (
        predictions.router,
        explanations.router,
        models.router,
        methods.router,
        health.router,
        ops.router,
        audit.router,
        reports.router,
        replays.router,
        pages.router,
    ):
        app.include_router(router)
    return app
