"""deskhost's host API, version 1.6: the only module an extension imports from the host.

Everything in ``__all__`` is stable. Deprecation policy: a name is removed only in a new major
version, after at least one minor release in which using it emits ``DeprecationWarning`` and
the plugin guide says what replaces it. Hooks are extended only by adding arguments, which
existing implementations may ignore (pluggy passes only the arguments they name).
"""

from __future__ import annotations

from hostapi import csv, events, i18n, scopes
from hostapi._markers import hookimpl, hookspec
from hostapi.clock import now
from hostapi.context import Conflict, Context, NotFound, ScopeError
from hostapi.current import csrf_token, current_context, render_page
from hostapi.errors import Forbidden, LifecycleRefused, ValidationError
from hostapi.types import (
    AccountRecord,
    AgentRecord,
    ApiRoute,
    ChatTranscript,
    ContactRecord,
    DepartmentRecord,
    Download,
    Event,
    JobSpec,
    KbArticleRecord,
    KbCategoryRecord,
    LinkedClient,
    Location,
    Page,
    Panel,
    PanelTarget,
    PermissionSpec,
    RatingRecord,
    ServiceTerms,
    StatusChangeRecord,
    StatusChoice,
    ThreadRecord,
    TicketChoices,
    TicketHistory,
    TicketQuery,
    TicketRecord,
    TranscriptMessage,
    Webhook,
)

#: The version of this API; manifests state the range they need (``hostapi: ">=1.0,<2"``).
__version__ = "1.6"
#: The same version, under the name ``__all__`` exports.
HOSTAPI_VERSION = __version__

__all__ = [
    "HOSTAPI_VERSION",
    "AccountRecord",
    "AgentRecord",
    "ApiRoute",
    "ChatTranscript",
    "Conflict",
    "ContactRecord",
    "Context",
    "DepartmentRecord",
    "Download",
    "Event",
    "Forbidden",
    "JobSpec",
    "KbArticleRecord",
    "KbCategoryRecord",
    "LifecycleRefused",
    "LinkedClient",
    "Location",
    "NotFound",
    "Page",
    "Panel",
    "PanelTarget",
    "PermissionSpec",
    "RatingRecord",
    "ScopeError",
    "ServiceTerms",
    "StatusChangeRecord",
    "StatusChoice",
    "ThreadRecord",
    "TicketChoices",
    "TicketHistory",
    "TicketQuery",
    "TicketRecord",
    "TranscriptMessage",
    "ValidationError",
    "Webhook",
    "csrf_token",
    "csv",
    "current_context",
    "events",
    "hookimpl",
    "hookspec",
    "i18n",
    "now",
    "render_page",
    "scopes",
]
