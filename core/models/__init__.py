"""The core's tables: organisation, customers, tickets, audit, extensions and the event outbox."""

from core.models.agent_links import AgentLink, LinkPurpose
from core.models.audit import AuditEntry
from core.models.collaboration import (
    CustomerComment,
    Follow,
    Notification,
    NotificationKind,
)
from core.models.contracts import AccountContract
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
from core.models.knowledge_base import ArticleStatus, ArticleVisibility, KbArticle, KbCategory
from core.models.layout import BuiltinFieldLayout
from core.models.org import (
    Agent,
    Department,
    Organisation,
    PermissionProfile,
    ProfilePermission,
    agent_departments,
)
from core.models.sla import (
    BusinessHours,
    BusinessHoursInterval,
    Holiday,
    SlaPolicy,
    SlaTarget,
    TicketSla,
    sla_policy_departments,
)
from core.models.ticket_work import ticket_tags
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
from core.models.two_factor import AgentTwoFactor, RecoveryCode

__all__ = [
    "AccessToken",
    "Account",
    "AccountContract",
    "Activity",
    "Agent",
    "AgentLink",
    "AgentTwoFactor",
    "ArticleStatus",
    "ArticleVisibility",
    "Attachment",
    "AuditEntry",
    "BuiltinFieldLayout",
    "BusinessHours",
    "BusinessHoursInterval",
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
    "Holiday",
    "HookError",
    "ImportState",
    "Installation",
    "InstallationStorage",
    "KbArticle",
    "KbCategory",
    "LinkPurpose",
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
    "RecoveryCode",
    "SlaPolicy",
    "SlaTarget",
    "SpamMessage",
    "SpamRule",
    "SpamRuleKind",
    "StatusChange",
    "Tag",
    "Thread",
    "Ticket",
    "TicketSla",
    "TicketStatus",
    "TimeEntry",
    "account_products",
    "agent_departments",
    "contact_products",
    "contact_tags",
    "sla_policy_departments",
    "ticket_tags",
]
