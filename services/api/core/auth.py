"""Who may call what: bearer tokens with roles, checked by one dependency per route.

- ``Authorization: Bearer <token>`` on every ``/v1`` route and ``/metrics``; the events stream
  also takes ``?token=`` (a browser's ``EventSource`` cannot send headers). No valid token:
  401 with ``WWW-Authenticate: Bearer``; a valid token of another role: 403.
- Clinicians see only what they requested: another clinician's prediction or explanation
  answers 404, exactly like an unknown id, so ids reveal nothing.
- Every auditor read states its purpose (one header ``X-Audit-Purpose``: printable ASCII, or
  ``UTF-8''`` and the percent-encoded UTF-8, :mod:`services.api.core.purpose`) and is recorded
  in the access log and the audit chain *before* it is served: no read goes unrecorded.

Liveness, readiness, the pages and the OpenAPI documents stay open: they hold no patient data.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.core.deps import StateDep
from services.api.core.errors import Forbidden, Problem, Unauthorized
from services.api.core.purpose import PurposeError, decode_purpose
from shared import audit
from shared.audit.access import MAX_PURPOSE
from shared.auth.tokens import Principal, authenticate
from shared.db.models import ExplanationJob, Prediction, Role
from shared.errors import NotFound
from shared.hashing import pseudonymise

PURPOSE_HEADER = "X-Audit-Purpose"
_PURPOSE_KEY = PURPOSE_HEADER.lower().encode()
_MAX_ENCODED_PURPOSE = len("UTF-8''") + 12 * MAX_PURPOSE  # 4 UTF-8 bytes, each as %XX
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="xai-stack"'}
_bearer = HTTPBearer(auto_error=False, description="an API token made by `xai tokens create`")

CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
PurposeDep = Annotated[
    str | None,
    Header(
        alias=PURPOSE_HEADER,
        max_length=_MAX_ENCODED_PURPOSE,
        description="why this read is made; required with an auditor token (logged). "
        "Printable ASCII, or other text as UTF-8'' and its percent-encoded UTF-8 (RFC 8187), "
        f"at most {MAX_PURPOSE} characters once decoded; sent once",
    ),
]


class MissingPurpose(Problem):
    status = 422
    title = "Invalid input"


def _principal(state: Any, token: str | None) -> Principal:
    with state.sessions() as session:
        principal = authenticate(session, token)
    if principal is None:
        detail = "a valid token is required" if token else "no token: send Authorization: Bearer"
        raise Unauthorized(detail, headers=_CHALLENGE)
    return principal


def _check_role(principal: Principal, roles: tuple[Role, ...]) -> None:
    if principal.role not in roles:
        allowed = ", ".join(str(r) for r in roles)
        raise Forbidden(f"role {principal.role} may not do this; allowed: {allowed}")


def require(*roles: Role, query_token: bool = False) -> Callable[..., Principal]:
    """A dependency: the caller's principal if its token is valid and its role is in ``roles``.
    ``query_token`` also accepts ``?token=`` (only for the events stream)."""

    def dependency(
        request: Request, state: StateDep, credentials: CredentialsDep, _: PurposeDep = None
    ) -> Principal:
        token = credentials.credentials if credentials else None
        if token is None and query_token:
            token = request.query_params.get("token")
        principal = _principal(state, token)
        _check_role(principal, roles)
        if principal.role is Role.auditor:
            _log_auditor_read(request, state, principal, _stated_purpose(request))
        return principal

    return dependency


def _stated_purpose(request: Request) -> str | None:
    """The purpose as the auditor meant it, from the raw header bytes (every copy of it)."""
    values = [value for name, value in request.scope["headers"] if name == _PURPOSE_KEY]
    try:
        return decode_purpose(values)
    except PurposeError as exc:
        raise MissingPurpose(
            f"{PURPOSE_HEADER}: {exc}", errors=[{"field": PURPOSE_HEADER, "reason": str(exc)}]
        ) from None


def _log_auditor_read(
    request: Request, state: Any, principal: Principal, purpose: str | None
) -> None:
    """Record the read (who, what, when, why) in its own committed transaction before serving."""
    purpose = (purpose or "").strip()
    if not purpose:
        raise MissingPurpose(
            f"every auditor request states its purpose in the {PURPOSE_HEADER} header",
            errors=[{"field": PURPOSE_HEADER, "reason": "required for auditor requests"}],
        )
    route = request.scope.get("route")
    action = f"{request.method} {getattr(route, 'path', request.url.path)}"
    subject = next(iter(request.path_params.values()), None)
    try:
        with state.sessions.begin() as session:
            audit.log_access(
                session,
                principal=principal,
                action=action,
                purpose=purpose,
                subject_id=str(subject)[:64] if subject is not None else None,
                query=_logged_query(request, state),
            )
    except audit.AccessError as exc:
        raise MissingPurpose(
            f"{PURPOSE_HEADER}: {exc}", errors=[{"field": PURPOSE_HEADER, "reason": str(exc)}]
        ) from None


def _logged_query(request: Request, state: Any) -> dict[str, str]:
    """What was asked for (a search's filters), clipped; a case reference only as its HMAC,
    so the chain holds the same pseudonym as the predictions it finds."""
    query = {key: value[:256] for key, value in list(request.query_params.items())[:32]}
    if "case_ref" in query:
        key = state.settings.case_ref_key.get_secret_value().encode()
        query["case_ref_hmac"] = pseudonymise(request.query_params["case_ref"], key=key)
        del query["case_ref"]
    return query


def _dep(*roles: Role, query_token: bool = False) -> Any:
    return Annotated[Principal, Depends(require(*roles, query_token=query_token))]


ClinicianDep = _dep(Role.clinician)
EventsReaderDep = _dep(Role.clinician, query_token=True)
CaseReaderDep = _dep(Role.clinician, Role.auditor)
AuditorDep = _dep(Role.auditor)
OpsDep = _dep(Role.ops)
ModelReaderDep = _dep(Role.clinician, Role.auditor, Role.ops)
ArchiveReaderDep = _dep(Role.auditor, Role.ops)


def visible_prediction(
    prediction: Prediction | None, principal: Principal, ref: uuid.UUID
) -> Prediction:
    """The prediction if this principal may read it; else 404 (unknown and not-yours alike)."""
    if prediction is None or not _may_read(prediction, principal):
        raise NotFound(f"no prediction {ref}")
    return prediction


def visible_job(job: ExplanationJob | None, principal: Principal, ref: uuid.UUID) -> ExplanationJob:
    if job is None or not _may_read(job.prediction, principal):
        raise NotFound(f"no explanation {ref}")
    return job


def _may_read(prediction: Prediction, principal: Principal) -> bool:
    if principal.role is Role.clinician:
        return prediction.requested_by == str(principal.token_id)
    return principal.role is Role.auditor
