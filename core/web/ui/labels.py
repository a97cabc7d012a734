"""Translated labels for the fixed vocabulary stored as codes (statuses, channels, kinds…)."""

from __future__ import annotations

from flask_babel import LazyString, gettext, lazy_gettext, lazy_pgettext

from core.errors import Message

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

#: The lines of a customer's Reactions tab, by kind.
REACTION_KINDS: dict[str, LazyString] = {
    "reply": lazy_gettext("Reply"),
    "comment": lazy_gettext("Internal comment"),
    "rating": lazy_gettext("Happiness rating"),
}

RATINGS: dict[str, LazyString] = {
    "good": lazy_gettext("Good"),
    "okay": lazy_gettext("Okay"),
    "bad": lazy_gettext("Bad"),
}

#: The billing filter of the Time entries tab (the totals name the same sets).
BILLINGS: dict[str, LazyString] = {
    "all": lazy_gettext("All logged time"),
    "billable": lazy_gettext("Billable"),
    "billed": lazy_gettext("Billed"),
    "non_billable": lazy_gettext("Non-billable"),
}

#: What the views service names in English (standard views, built-in columns, condition
#: operators), translated where a view page shows it. Saved views and custom fields are named
#: by people and shown as they are.
VIEW_LABELS: dict[str, LazyString] = {
    "All": lazy_gettext("All"),
    "My contacts": lazy_gettext("My contacts"),
    "My accounts": lazy_gettext("My accounts"),
    "Created today": lazy_gettext("Created today"),
    "Created in the last 30 days": lazy_gettext("Created in the last 30 days"),
    "Spam": lazy_gettext("Spam"),
    "Name": lazy_gettext("Name"),
    "First name": lazy_gettext("First name"),
    "Last name": lazy_gettext("Last name"),
    "Email": lazy_gettext("Email"),
    "Phone": lazy_gettext("Phone"),
    "Mobile": lazy_gettext("Mobile"),
    "Title": lazy_gettext("Title"),
    "Account": lazy_gettext("Account"),
    "Owner": lazy_gettext("Owner"),
    "Tags": lazy_gettext("Tags"),
    "Created": lazy_gettext("Created"),
    "Updated": lazy_gettext("Updated"),
    "Website": lazy_gettext("Website"),
    "Industry": lazy_gettext("Industry"),
    "is": lazy_gettext("is"),
    "is not": lazy_gettext("is not"),
    "contains": lazy_gettext("contains"),
    "does not contain": lazy_gettext("does not contain"),
    "starts with": lazy_gettext("starts with"),
    "is empty": lazy_gettext("is empty"),
    "is not empty": lazy_gettext("is not empty"),
    "less than": lazy_gettext("less than"),
    "greater than": lazy_gettext("greater than"),
    "between": lazy_gettext("between"),
    "before": lazy_gettext("before"),
    "after": lazy_gettext("after"),
    "in the last N days": lazy_gettext("in the last N days"),
}

#: The built-in permission profiles, stored by their English names (core.permissions
#: DEFAULT_PROFILES) and translated where shown; profiles people make are shown as named.
PROFILES: dict[str, LazyString] = {
    "Administrator": lazy_gettext("Administrator"),
    "Support Manager": lazy_gettext("Support Manager"),
    "Agent": lazy_gettext("Agent"),
    "Light Agent": lazy_gettext("Light Agent"),
}

#: How a contact's name is ordered (see core.names).
NAME_ORDERS: dict[str, LazyString] = {
    "auto": lazy_gettext("Automatic: by the name's script and the page's language"),
    "family_first": lazy_gettext("Family name first"),
    "given_first": lazy_gettext("Given name first"),
}

#: What a spam rule matches (core.intake.spam.SpamRuleKind), as the rules page and the
#: marketplace's list of what an extension adds name it.
SPAM_RULE_KINDS: dict[str, LazyString] = {
    "sender": lazy_gettext("Sender (email address or phone number)"),
    "domain": lazy_gettext("Sender domain (subdomains included)"),
    "header": lazy_gettext("Email header"),
    "content": lazy_gettext("Subject or text"),
}

#: Custom field types, as the field editor's palette names them. "Number" has a context of its
#: own: the plain msgid is a ticket's number (an identifier, 番号), this one a quantity (数値).
FIELD_TYPES: dict[str, LazyString] = {
    "text": lazy_gettext("Text"),
    "number": lazy_pgettext("custom field type", "Number"),
    "date": lazy_gettext("Date"),
    "picklist": lazy_gettext("Picklist"),
    "checkbox": lazy_gettext("Checkbox"),
    "email": lazy_gettext("Email"),
    "phone": lazy_gettext("Phone"),
    "url": lazy_gettext("URL"),
    "lookup": lazy_gettext("Lookup"),
}

#: What a lookup field can point at.
LOOKUP_TARGETS: dict[str, LazyString] = {
    "contact": lazy_gettext("Contact"),
    "account": lazy_gettext("Account"),
    "product": lazy_gettext("Product"),
    "agent": lazy_gettext("Agent"),
}


#: A knowledge-base article's status and visibility (core.models.knowledge_base).
ARTICLE_STATUSES: dict[str, LazyString] = {
    "draft": lazy_gettext("Draft"),
    "published": lazy_gettext("Published"),
}
ARTICLE_VISIBILITIES: dict[str, LazyString] = {
    "all": lazy_gettext("All users"),
    "registered": lazy_gettext("Registered users"),
}


def label(mapping: dict[str, LazyString], code: str | None) -> str:
    """The translated label of ``code``, or the code itself when it is not a known one."""
    if code is None:
        return ""
    found = mapping.get(code)
    return str(found) if found is not None else code


def message_text(message: object) -> str:
    """A service's validation message in the page's language (English when not translated).

    Plain messages are their own msgid; a :class:`~core.errors.Message` is translated from its
    msgid and filled with its values. Anything else (a text a page already translated, a
    lazy string) is shown as it is; an empty text stays empty (the empty msgid is the
    catalog's header).
    """
    if isinstance(message, Message):
        return gettext(message.msgid, **message.values)
    if isinstance(message, str):
        return gettext(message) if message else message
    return str(message)
