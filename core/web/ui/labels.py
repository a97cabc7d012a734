"""Translated labels for the fixed vocabulary stored as codes (statuses, channels, kinds…)."""

from __future__ import annotations

from flask_babel import LazyString, lazy_gettext

STATUS_TYPES: dict[str, LazyString] = {
    "open": lazy_gettext("Open"),
    "on_hold": lazy_gettext("On hold"),
    "closed": lazy_gettext("Closed"),
}

#: The built-in statuses (custom statuses are shown by their own name).
STATUSES: dict[str, LazyString] = {
    "Open": lazy_gettext("Open"),
    "Escalated": lazy_gettext("Escalated"),
    "On Hold": lazy_gettext("On hold"),
    "Resolved": lazy_gettext("Resolved"),
    "Closed": lazy_gettext("Closed"),
}

PRIORITIES: dict[str, LazyString] = {
    "low": lazy_gettext("Low"),
    "medium": lazy_gettext("Medium"),
    "high": lazy_gettext("High"),
    "urgent": lazy_gettext("Urgent"),
}

CHANNELS: dict[str, LazyString] = {
    "email": lazy_gettext("Email"),
    "web_form": lazy_gettext("Web form"),
    "phone": lazy_gettext("Phone"),
    "chat": lazy_gettext("Chat"),
    "whatsapp": lazy_gettext("WhatsApp"),
    "telegram": lazy_gettext("Telegram"),
    "wechat": lazy_gettext("WeChat"),
    "line": lazy_gettext("LINE"),
    "api": lazy_gettext("API"),
}

THREAD_KINDS: dict[str, LazyString] = {
    "incoming": lazy_gettext("Customer message"),
    "outgoing": lazy_gettext("Reply"),
    "comment": lazy_gettext("Internal comment"),
    "notification": lazy_gettext("Notification"),
}


def label(mapping: dict[str, LazyString], code: str | None) -> str:
    """The translated label of ``code``, or the code itself when it is not a known one."""
    if code is None:
        return ""
    found = mapping.get(code)
    return str(found) if found is not None else code
