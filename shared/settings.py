"""The one Settings object, read from the environment (prefix ``XAI_``).

Every field is listed, with its default, in ``deploy/env.example``. Nothing else in the code
reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.retention import MINIMUM_FLOOR_DAYS, check_policy

_INSECURE_KEYS = {"", "changeme", "change-me", "secret"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XAI_", extra="ignore")

    # --- storage and queue -------------------------------------------------------------------
    database_url: str = "sqlite:///var/xai.db"
    broker_url: str = "sqla+sqlite:///var/broker.db"
    bundles_dir: Path = Path("var/bundles")

    # --- API ---------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    body_read_timeout_s: float = Field(default=10.0, gt=0)
    body_total_timeout_s: float = Field(default=120.0, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    decode_memory_budget_mb: int = Field(default=256, ge=64)
    ort_intra_op_threads: int = Field(default=1, ge=1)
    publish_timeout_s: float = Field(default=1.0, gt=0)
    case_ref_key: SecretStr = Field(
        description="Key of the HMAC that pseudonymises case references; never stored."
    )

    # --- worker ------------------------------------------------------------------------------
    worker_device: Literal["auto", "cpu", "cuda"] = "auto"
    worker_concurrency: int = Field(default=1, ge=1)
    worker_torch_threads: int = Field(default=1, ge=1)
    job_time_limit_s: int = Field(default=300, gt=0)
    broker_visibility_timeout_s: int = Field(default=600, gt=0)
    job_lease_s: int = Field(default=360, gt=0)
    requeue_after_s: float = Field(default=30.0, gt=0)
    reconcile_interval_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    parity_tolerance: float = Field(default=1e-4, gt=0)

    # --- audit archive -----------------------------------------------------------------------
    retention_days: int = Field(default=183, ge=MINIMUM_FLOOR_DAYS)
    retention_floor_days: int = Field(default=183, ge=MINIMUM_FLOOR_DAYS)
    build_commit: str = Field(
        default="",
        description="Commit named by new audit records; empty: the checkout's git HEAD.",
    )

    @field_validator("case_ref_key")
    @classmethod
    def _refuse_default_secret(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value().strip().lower() in _INSECURE_KEYS:
            raise ValueError("XAI_CASE_REF_KEY must be set to a random secret")
        if len(value.get_secret_value()) < 16:
            raise ValueError("XAI_CASE_REF_KEY must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _retention_above_floor(self) -> Settings:
        check_policy(retention_days=self.retention_days, floor_days=self.retention_floor_days)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


STACK_FIELDS = frozenset({"database_url", "broker_url", "bundles_dir", "case_ref_key"})
"""Where the stack's state lives: configured together, never half from one stack, half another."""


def configured_fields() -> frozenset[str]:
    """The fields that the environment sets (``XAI_*`` variables), by field name."""
    from pydantic_settings import EnvSettingsSource

    return frozenset(EnvSettingsSource(Settings)())


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # filled from the environment
