"""Bearer-token authentication with ordered roles, and separate ingest tokens.

Roles are ordered ``viewer < operator < admin``: viewers read, operators also
override deployments and ingest events, admins also change policies. Ingest
tokens (CI events, Prometheus remote-write) are a separate kind of credential
that can only push data, so a leaked CI secret cannot hold or roll back a
deployment.

Tokens are compared in constant time and never logged or echoed: the actor
written into audit records is the configured name (``"operator:alice"`` →
``alice``) or, without one, a short SHA-256 fingerprint of the token.
An empty token table disables auth (local development only): every caller is
the ``anonymous`` admin.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

Role = Literal["viewer", "operator", "admin"]
ROLE_RANK: dict[str, int] = {"viewer": 1, "operator": 2, "admin": 3}

#: The bearer scheme shown in OpenAPI; auto_error=False so we answer 401 with our own reason.
bearer_scheme = HTTPBearer(auto_error=False, description="API or ingest token")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a display name for audit records, and what they may do."""

    actor: str
    role: Role | None
    ingest: bool = False

    def has(self, role: Role) -> bool:
        """True when this principal's role is at least ``role``.

        >>> Principal("a", "operator").has("viewer"), Principal("a", "viewer").has("admin")
        (True, False)
        >>> Principal("ci", None, ingest=True).has("viewer")
        False
        """
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]


def fingerprint(token: str) -> str:
    """A stable, non-reversible short name for a token (safe to log and audit).

    >>> fingerprint("s3cret") == fingerprint("s3cret"), "s3cret" in fingerprint("s3cret")
    (True, False)
    """
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:10]


def _parse_grant(token: str, grant: str) -> Principal:
    """``"operator"`` or ``"operator:alice"`` → Principal; raises ValueError on a bad role."""
    role, _, name = grant.strip().partition(":")
    if role not in ROLE_RANK:
        raise ValueError(f"api_tokens: unknown role {role!r} (viewer|operator|admin)")
    return Principal(actor=name.strip()[:200] or fingerprint(token), role=role)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AuthConfig:
    """Token table: ``tokens`` maps API token → ``role[:name]``; ``ingest_tokens`` push only."""

    tokens: Mapping[str, str] = field(default_factory=dict)
    ingest_tokens: Iterable[str] = ()

    def __post_init__(self) -> None:
        table = {tok: _parse_grant(tok, grant) for tok, grant in self.tokens.items() if tok}
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_ingest", tuple(t for t in self.ingest_tokens if t))

    @property
    def enabled(self) -> bool:
        """Auth is on as soon as any token is configured."""
        return bool(self._table or self._ingest)  # type: ignore[attr-defined]

    def identify(self, token: str) -> Principal | None:
        """The principal of a token, or None; constant-time compare against every entry."""
        found: Principal | None = None
        for known, principal in self._table.items():  # type: ignore[attr-defined]
            if hmac.compare_digest(known.encode(), token.encode()):
                found = principal
        for known in self._ingest:  # type: ignore[attr-defined]
            if hmac.compare_digest(known.encode(), token.encode()):
                found = found or Principal(actor="ingest:" + fingerprint(token), role=None,
                                           ingest=True)
        return found


ANONYMOUS = Principal(actor="anonymous", role="admin", ingest=True)


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=reason,
                         headers={"WWW-Authenticate": 'Bearer realm="smartdeploy"'})


def authenticate(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    """Resolve the caller from the Authorization header (401 with a reason if unknown)."""
    config: AuthConfig = request.app.state.deps.auth
    if not config.enabled:
        return ANONYMOUS
    if creds is None or not creds.credentials:
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
    principal = config.identify(creds.credentials)
    if principal is None:
        raise _unauthorized("unknown or revoked token")
    return principal


def require_role(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """FastAPI dependency: the caller must hold ``role`` or higher (else 401/403)."""

    async def dependency(  # async: pure CPU, so no threadpool hop per request
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
    ) -> Principal:
        principal = authenticate(request, creds)
        if not principal.has(role):
            held = principal.role or "ingest-only"
            raise HTTPException(status_code=403,
                                detail=f"role {role} required; this token has {held}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def require_ingest_or(role: Role = "operator") -> Callable[..., Coroutine[Any, Any, Principal]]:
    """FastAPI dependency for data-push endpoints: an ingest token, or ``role`` or higher."""

    async def dependency(
        request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
    ) -> Principal:
        principal = authenticate(request, creds)
        if not (principal.ingest or principal.has(role)):
            raise HTTPException(status_code=403,
                                detail=f"an ingest token or role {role} is required")
        return principal

    dependency.__name__ = f"require_ingest_or_{role}"
    return dependency

