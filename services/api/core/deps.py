"""Dependencies: the app-wide state built in the lifespan, exposed as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.api.core.runtime import ModelRuntime
from services.api.explanations.watch import JobWatch
from services.api.models.summary import SummaryCache
from shared.bundles.registry import Registry
from shared.queue import Publisher
from shared.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    runtime: ModelRuntime
    publisher: Publisher
    job_watch: JobWatch
    summaries: SummaryCache

    @property
    def registry(self) -> Registry:
        """The served bundles: those of the runtime, replaced whole when bundles reload."""
        return self.runtime.registry


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.xai
    return state


def get_session(state: Annotated[AppState, Depends(get_state)]):
    with state.sessions() as session:
        yield session


StateDep = Annotated[AppState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_session)]
