"""The core's tables: organisation, customers, tickets, audit, extensions and the event outbox."""

from core.models.audit import AuditEntry
from core.models.collaboration import (
    CustomerComment,
    Follow,
    Notification,
    NotificationKind,
)
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
from core.models.fields import CustomerEntity, CustomField, CustomView, FieldType
from core.models.imports import CustomerImport, CustomerImportRejection, ImportState
from core.models.intake import MailDirection, MailMessage, SpamMessage, SpamRule, SpamRuleKind
from core.models.layout import BuiltinFieldLayout
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
    "BuiltinFieldLayout",
    "Contact",
    "ContactIdentity",
    "CustomField",
    "CustomView",
    "CustomerComment",
    "CustomerEntity",
    "CustomerImport",
    "CustomerImportRejection",
    "Department",
    "EventDelivery",
    "FieldType",
    "Follow",
    "HappinessRating",
    "HookError",
    "ImportState",
    "Installation",
    "InstallationStorage",
    "MailDirection",
    "MailMessage",
    "Notification",
    "NotificationKind",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "Organisation",
    "OutboxEvent",
    "PermissionProfile",
    "Product",
    "ProfilePermission",
    "SpamMessage",
    "SpamRule",
    "SpamRuleKind",
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
