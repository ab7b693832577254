"""API tokens and roles (storage side). The API maps ``authenticate`` to 401 and roles to 403."""

from shared.auth.tokens import Principal, authenticate, create_token, revoke, token_digest
from shared.db.models import Role

__all__ = ["Principal", "Role", "authenticate", "create_token", "revoke", "token_digest"]
