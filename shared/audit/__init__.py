"""The tamper-evident audit archive: a hash chain of canonical-JSON records in the database.

- :mod:`~shared.audit.chain`: record hash layout, serialised :func:`append`;
- :mod:`~shared.audit.formats`: every record kind and format version (model, canonical JSON);
- :mod:`~shared.audit.payloads`: what prediction and explanation records bind;
- :mod:`~shared.audit.verify`, :mod:`~shared.audit.checkpoint`: walk the chain, export heads;
- :mod:`~shared.audit.access`, :mod:`~shared.audit.feedback`: auditor reads, clinician feedback;
- :mod:`~shared.audit.holds`, :mod:`~shared.audit.retention`: legal holds and the purge.

Insert-only in the database (migration 0002): triggers refuse UPDATE/DELETE/TRUNCATE of
``audit_records`` and UPDATE/TRUNCATE of ``audit_payloads`` for every role, the owner included;
only someone who can ``ALTER TABLE … DISABLE TRIGGER`` (the owner, a superuser) or set
``session_replication_role = replica`` (a superuser) gets past them — and the verifier then
detects what they changed. In production run migrations as the owner role and the services as
a role that owns nothing and is granted only ``SELECT, INSERT`` on ``audit_records`` and
``SELECT, INSERT, DELETE`` on ``audit_payloads`` (DELETE for the retention purge).
"""

from shared.audit.access import AccessError, log_access
from shared.audit.canonical import PayloadError, canonical_payload
from shared.audit.chain import (
    GENESIS_HASH,
    AuditChainError,
    append,
    read_formats,
    read_payload,
    read_typed,
    record_hash,
)
from shared.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    export_checkpoint,
    load_checkpoint,
    take_checkpoint,
    verified_checkpoint,
)
from shared.audit.feedback import FeedbackError, record_feedback
from shared.audit.formats import FormatError, Payload
from shared.audit.holds import place_hold, release_hold
from shared.audit.payloads import (
    payload_for_explanation,
    payload_for_prediction,
    record_explanation,
    record_prediction,
)
from shared.audit.retention import PurgeReport, purge
from shared.audit.verify import VerifyReport, verify
from shared.retention import MINIMUM_FLOOR_DAYS, RetentionError

__all__ = [
    "GENESIS_HASH",
    "MINIMUM_FLOOR_DAYS",
    "AccessError",
    "AuditChainError",
    "Checkpoint",
    "CheckpointError",
    "FeedbackError",
    "FormatError",
    "Payload",
    "PayloadError",
    "PurgeReport",
    "RetentionError",
    "VerifyReport",
    "append",
    "canonical_payload",
    "export_checkpoint",
    "load_checkpoint",
    "log_access",
    "payload_for_explanation",
    "payload_for_prediction",
    "place_hold",
    "purge",
    "read_formats",
    "read_payload",
    "read_typed",
    "record_explanation",
    "record_feedback",
    "record_hash",
    "record_prediction",
    "release_hold",
    "take_checkpoint",
    "verified_checkpoint",
    "verify",
]
