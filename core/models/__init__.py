"""The core's tables: organisation, customers, tickets, audit, extensions and the event outbox."""

from core.models.audit import AuditEntry
from core.models.customers import (
    Account,
    Contact,
    ContactIdentity,
    Product,
    Tag,
    account_products,
    contact_products,
    contact_tags,
)
from core.models.extensions import (
    EventDelivery,
    HookError,
    Installation,
    InstallationStorage,
    OAuthAuthorizationCode,
    OAuthClient,
    OutboxEvent,
)
from core.models.org import (
    Agent,
    Department,
    Organisation,
    PermissionProfile,
    ProfilePermission,
    agent_departments,
)
from core.models.tickets import (
    Activity,
    Attachment,
    HappinessRating,
    StatusChange,
    Thread,
    Ticket,
    TicketStatus,
    TimeEntry,
)
from core.models.tokens import AccessToken

__all__ = [
    "AccessToken",
    "Account",
    "Activity",
    "Agent",
    "Attachment",
    "AuditEntry",
    "Contact",
    "ContactIdentity",
    "Department",
    "EventDelivery",
    "HappinessRating",
    "HookError",
    "Installation",
    "InstallationStorage",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "Organisation",
    "OutboxEvent",
    "PermissionProfile",
    "Product",
    "ProfilePermission",
    "StatusChange",
    "Tag",
    "Thread",
    "Ticket",
    "TicketStatus",
    "TimeEntry",
    "account_products",
    "agent_departments",
    "contact_products",
    "contact_tags",
]
