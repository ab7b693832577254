"""What crosses process boundaries on the queue: task names and message bodies.

The API publishes by task *name*; it never imports the worker.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

EXPLAIN_TASK = "xai.explain_job"
EXPLAIN_QUEUE = "explanations"


class ExplainMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: uuid.UUID


REPLAY_TASK = "xai.replay"
"""Recompute an archived explanation for an auditor; published on :data:`EXPLAIN_QUEUE`."""


class ReplayMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    replay_id: uuid.UUID
