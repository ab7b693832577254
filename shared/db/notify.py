"""The channel on which Postgres announces explanation-job status changes.

Migration 0005 installs the trigger: every UPDATE that changes ``explanation_jobs.status``
sends ``pg_notify(JOB_STATUS_CHANNEL, <prediction id>)`` in its own transaction, so a listener
hears of the change only once it is committed. SQLite has no equivalent.
"""

from __future__ import annotations

JOB_STATUS_CHANNEL = "explanation_job_status"
