"""The baseline every deskhost database starts with: the organisation, built-in statuses and
the default permission profiles. Idempotent: safe to run on every ``migrate``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Organisation, PermissionProfile, ProfilePermission, TicketStatus
from core.models.tickets import StatusType
from core.permissions import DEFAULT_PROFILES

BUILTIN_STATUSES: tuple[tuple[str, StatusType], ...] = (
    ("Open", StatusType.OPEN),
    ("Escalated", StatusType.OPEN),
    ("On Hold", StatusType.ON_HOLD),
    ("Resolved", StatusType.CLOSED),
    ("Closed", StatusType.CLOSED),
)


def ensure_baseline(session: Session, organisation_name: str = "deskhost") -> Organisation:
    """Create what is missing of the baseline and return the organisation."""
    organisation = session.scalar(select(Organisation).limit(1))
    if organisation is None:
        organisation = Organisation(
            name=organisation_name,
            timezone="UTC",
            week_start=0,
            default_locale="en",
            ticket_prefix="",
            next_ticket_number=1,
        )
        session.add(organisation)
    existing_statuses = set(session.scalars(select(TicketStatus.name)))
    for position, (name, status_type) in enumerate(BUILTIN_STATUSES):
        if name not in existing_statuses:
            session.add(
                TicketStatus(
                    name=name, status_type=status_type.value, is_builtin=True, position=position
                )
            )
    existing_profiles = set(session.scalars(select(PermissionProfile.name)))
    for name, permissions in DEFAULT_PROFILES.items():
        if name not in existing_profiles:
            session.add(
                PermissionProfile(
                    name=name,
                    is_admin=name == "Administrator",
                    is_builtin=True,
                    permissions=[ProfilePermission(permission=p) for p in sorted(permissions)],
                )
            )
    session.flush()
    return organisation
