"""Bearer tokens: agents' personal access tokens, and the lookup every bearer request goes through.

A token's plaintext is shown once, when it is created; the database keeps only its SHA-256
(``AccessToken.token_hash``) and a short hint for lists. OAuth access tokens issued by the
marketplace's authorization server live in the same table with ``kind = "oauth"`` (and their
``installation_id``), so :func:`resolve` serves both kinds: an OAuth token works only while its
installation is active and its client is not revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import permissions
from core.errors import Message, NotFound, ValidationFailed
from core.models import AccessToken, Agent, AuditEntry, Installation, OAuthClient
from core.services.base import clean_text, gather, require_aware
from hostapi import clock, scopes

#: Personal tokens start with this, so a leaked one is recognisable (secret scanners, logs).
PERSONAL_TOKEN_PREFIX = "dhp_"

#: OAuth access and refresh tokens issued by the marketplace's authorization server.
OAUTH_TOKEN_PREFIX = "dho_"
REFRESH_TOKEN_PREFIX = "dhr_"

#: The mail server's credential: it lets ``POST /api/v1/inbound/email`` take raw mail for any
#: department, as the desk's own mail. Not in ``hostapi.scopes``: no extension may request it,
#: only administrators may create a token carrying it, and such a token carries nothing else.
MAIL_INGEST_SCOPE = "desk.mail.ingest"

#: Changing the desk's setup through the REST API: agents, departments, profiles, statuses,
#: the organisation, business hours, SLAs, products, custom fields. Not in ``hostapi.scopes``:
#: no extension may request it (an extension that could would act as an administrator on
#: everything). A personal token carries it only for an agent who may change some of the
#: setup (:data:`SETTINGS_WRITE_PERMISSIONS`); each call still checks its own permission.
SETTINGS_WRITE_SCOPE = "desk.settings.write"

#: An agent needs one of these permissions (or an administrator profile) for a personal token
#: with :data:`SETTINGS_WRITE_SCOPE`.
SETTINGS_WRITE_PERMISSIONS: frozenset[str] = frozenset(
    {permissions.SETUP_MANAGE, permissions.AGENT_MANAGE}
)

#: Scopes only the host hands out (personal tokens, never extensions), with their labels.
HOST_ONLY_SCOPES: dict[str, tuple[str, str]] = {
    MAIL_INGEST_SCOPE: (
        "Mail server credential: deliver raw inbound mail to every department's mailbox",
        "メールサーバー用の認証情報: すべての部門の受信メールを取り込む",
    ),
    SETTINGS_WRITE_SCOPE: (
        "Change the desk's setup (agents, departments, profiles and other settings)",
        "デスクの設定の変更(担当者、部署、権限プロファイルなどの設定)",
    ),
}

#: ``last_used_at`` is written at most this often per token: a busy script must not turn
#: every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenKind(StrEnum):
    """Where a token came from."""

    PERSONAL = "personal"
    OAUTH = "oauth"


def hash_token(plaintext: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def validate_scopes(
    requested: Iterable[str], field: str = "scopes", *, agent: Agent | None = None
) -> str:
    """The space-separated form of ``requested``; unknown or no scopes are refused on ``field``.

    The mail server's credential (:data:`MAIL_INGEST_SCOPE`) is refused unless ``agent`` is an
    administrator, and cannot be combined with other scopes: the token handed to a mail server
    must not also read or write tickets. :data:`SETTINGS_WRITE_SCOPE` is refused unless
    ``agent`` may change some of the setup (:func:`may_hold_scope`).
    """
    names = sorted({name.strip() for name in requested if name and name.strip()})
    if not names:
        raise ValidationFailed({field: [Message("Choose at least one scope.")]})
    unknown = [name for name in names if name not in scopes.ALL and name not in HOST_ONLY_SCOPES]
    if unknown:
        raise ValidationFailed(
            {field: [Message("Unknown scope: %(scopes)s.", scopes=", ".join(unknown))]}
        )
    if MAIL_INGEST_SCOPE in names:
        if agent is None or not agent.is_admin:
            raise ValidationFailed(
                {field: [Message("Only administrators can create the mail server's credential.")]}
            )
        if len(names) > 1:
            raise ValidationFailed(
                {field: [Message("The mail server's credential cannot carry other scopes.")]}
            )
    if SETTINGS_WRITE_SCOPE in names and (
        agent is None or not may_hold_scope(agent, SETTINGS_WRITE_SCOPE)
    ):
        raise ValidationFailed(
            {
                field: [
                    Message(
                        "Only agents who manage the setup or agents can change settings by token."
                    )
                ]
            }
        )
    return " ".join(names)


def may_hold_scope(agent: Agent, scope: str) -> bool:
    """True when a personal token of ``agent`` may carry the host-only ``scope``."""
    if scope == MAIL_INGEST_SCOPE:
        return agent.is_admin
    if scope == SETTINGS_WRITE_SCOPE:
        return any(agent.has_permission(name) for name in SETTINGS_WRITE_PERMISSIONS)
    return scope in scopes.ALL


def host_scopes_for(agent: Agent) -> dict[str, tuple[str, str]]:
    """The host-only scopes ``agent`` may give a personal token, with their labels."""
    return {
        name: labels for name, labels in HOST_ONLY_SCOPES.items() if may_hold_scope(agent, name)
    }


def create_personal_token(
    session: Session,
    agent: Agent,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    *,
    ip_address: str | None = None,
) -> tuple[AccessToken, str]:
    """Create a personal access token for ``agent``; returns the record and its plaintext.

    The plaintext is not stored anywhere: the caller shows it once. The token acts as the
    agent, limited to ``scopes`` and always to the agent's own permissions and departments.

    :raises ValidationFailed: on ``name``, ``scopes`` or ``expires_at`` (past or naive).
    """
    values = gather(
        {
            "name": lambda: clean_text(name, "name", max_length=200, required=True),
            "scopes": lambda: validate_scopes(scopes, agent=agent),
            "expires_at": lambda: _future(expires_at),
        }
    )
    clean_name, scope_string = values["name"], values["scopes"]
    plaintext = PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = AccessToken(
        token_hash=hash_token(plaintext),
        token_hint=plaintext[:12],
        name=clean_name,
        kind=TokenKind.PERSONAL.value,
        agent_id=agent.id,
        scopes=scope_string,
        created_at=clock.now(),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    _audit(
        session, agent, ip_address, "add", token, after={"name": clean_name, "scopes": scope_string}
    )
    return token, plaintext


def new_oauth_token() -> str:
    """A fresh OAuth access token (plaintext; store only its hash)."""
    return OAUTH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    """A fresh OAuth refresh token (plaintext; store only its hash)."""
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(48)


def find_oauth_token(session: Session, plaintext: str, *, refresh: bool) -> AccessToken | None:
    """The OAuth token whose access (or, with ``refresh``, refresh) token is ``plaintext``,
    live or not; personal tokens are never found here."""
    if not plaintext:
        return None
    column = AccessToken.refresh_token_hash if refresh else AccessToken.token_hash
    return session.scalar(
        select(AccessToken).where(
            column == hash_token(plaintext), AccessToken.kind == TokenKind.OAUTH.value
        )
    )


def _future(expires_at: datetime | None) -> str:
    require_aware(expires_at, "expires_at")
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationFailed({"expires_at": [Message("Give a time in the future.")]})
    return ""


def resolve(session: Session, plaintext: str) -> AccessToken | None:
    """The live token with this plaintext, or ``None`` (unknown, revoked, expired, agent inactive).

    Records the use in ``last_used_at`` (at most once per :data:`LAST_USED_RESOLUTION`); the
    caller commits.
    """
    if not plaintext:
        return None
    token = session.scalar(
        select(AccessToken).where(AccessToken.token_hash == hash_token(plaintext))
    )
    now = clock.now()
    if token is None or token.revoked_at is not None or not token.agent.is_active:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if not _extension_may_act(session, token):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.flush()
    return token


def _extension_may_act(session: Session, token: AccessToken) -> bool:
    """An extension's token needs its installation active (authorized, not archived) and its
    client not revoked; a personal token has neither."""
    if token.installation_id is not None:
        installation = session.get(Installation, token.installation_id)
        if installation is None or not installation.is_active:
            return False
    if token.client_id is not None:
        client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == token.client_id))
        if client is None or client.revoked_at is not None:
            return False
    return True


def personal_tokens(session: Session, agent: Agent) -> list[AccessToken]:
    """The agent's personal tokens not revoked, newest first (expired ones included, marked so)."""
    return list(
        session.scalars(
            select(AccessToken)
            .where(
                AccessToken.agent_id == agent.id,
                AccessToken.kind == TokenKind.PERSONAL.value,
                AccessToken.revoked_at.is_(None),
            )
            .order_by(AccessToken.created_at.desc(), AccessToken.id.desc())
        )
    )


def get_personal_token(session: Session, agent: Agent, token_id: int) -> AccessToken:
    """One of the agent's own live personal tokens.

    :raises NotFound: another agent's token, a revoked one, or none with that id.
    """
    token = session.get(AccessToken, token_id)
    if (
        token is None
        or token.agent_id != agent.id
        or token.kind != TokenKind.PERSONAL.value
        or token.revoked_at is not None
    ):
        raise NotFound("token not found")
    return token


def revoke(
    session: Session,
    token: AccessToken,
    *,
    by: Agent | None = None,
    ip_address: str | None = None,
    label: str = "system",
) -> None:
    """Revoke ``token`` now (idempotent); every later request with it answers 401.

    ``label`` names who revoked it when no agent did (an OAuth client, say).
    """
    if token.revoked_at is not None:
        return
    token.revoked_at = clock.now()
    session.flush()
    _audit(
        session,
        by,
        ip_address,
        "delete",
        token,
        after={"revoked_at": token.revoked_at.isoformat()},
        label=label,
    )


def is_expired(token: AccessToken) -> bool:
    """True when the token has an expiry that has passed."""
    return token.expires_at is not None and token.expires_at <= clock.now()


def _audit(
    session: Session,
    agent: Agent | None,
    ip_address: str | None,
    action: str,
    token: AccessToken,
    *,
    after: dict[str, str],
    label: str = "system",
) -> None:
    # Token creation and revocation are security events: who, when, from where.
    session.add(
        AuditEntry(
            at=clock.now(),
            actor_agent_id=agent.id if agent is not None else None,
            actor_label="" if agent is not None else label,
            ip_address=ip_address,
            action=action,
            entity_type="access_token",
            entity_id=str(token.id),
            sub_action=token.kind,
            before=None,
            after=after,
        )
    )
