"""The records of the history import format, as typed msgspec structs (docs/import-format.md).

Decoding a line checks types, enums, lengths and that every time carries an offset; the rules
that need more than one record (references, time order) are checked in ``core.importer.plan``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Ref = Annotated[str, Meta(min_length=1, max_length=200)]
AwareTime = Annotated[datetime, Meta(tz=True)]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, Meta(max_length=200)]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Phone = Annotated[str, Meta(max_length=50)]
#: Channel names: the built-in ones and any an extension registers (lower-case identifiers).
Channel = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]

ThreadKindName = Literal["incoming", "outgoing", "comment", "notification"]
RatingName = Literal["good", "okay", "bad"]
PriorityName = Literal["low", "medium", "high", "urgent"]
RaisedByName = Literal["customer", "agent"]
AgentStatusName = Literal["available", "busy", "away", "offline"]


class _Record(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True):
    """Base of the top-level records: tagged by ``"type"``; unknown fields are refused."""


class DepartmentRecord(_Record, tag="department"):
    """A department; ``id`` is the file's ref for it, stored as ``external_id``."""

    id: Ref
    name: Name
    description: Annotated[str, Meta(max_length=1000)] = ""
    is_active: bool = True
    created_at: AwareTime | None = None


class ProfileRecord(_Record, tag="profile"):
    """A permission profile; one whose name exists already is matched to it, not changed."""

    id: Ref
    name: Name
    description: Annotated[str, Meta(max_length=1000)] = ""
    is_admin: bool = False
    permissions: list[Annotated[str, Meta(min_length=1, max_length=120)]] = []


class AgentRecord(_Record, tag="agent"):
    """An agent; ``password_hash`` is a werkzeug hash or absent (cannot sign in until set)."""

    id: Ref
    email: Email
    name: Name
    profile: Ref
    departments: list[Ref] = []
    password_hash: Annotated[str, Meta(max_length=300)] = ""
    locale: Annotated[str, Meta(max_length=8)] | None = None
    status: AgentStatusName = "offline"
    is_active: bool = True
    created_at: AwareTime | None = None


class AccountRecord(_Record, tag="account"):
    """An account (a company)."""

    id: Ref
    name: Annotated[str, Meta(min_length=1, max_length=300)]
    website: Annotated[str, Meta(max_length=500)] = ""
    phone: Phone = ""
    industry: Annotated[str, Meta(max_length=100)] = ""
    description: str = ""
    owner: Ref | None = None
    created_at: AwareTime | None = None
    updated_at: AwareTime | None = None


class IdentityRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How a contact is known on a channel (a LINE user id, a WhatsApp number…)."""

    channel: Channel
    external_id: Annotated[str, Meta(min_length=1, max_length=300)]
    display_name: Annotated[str, Meta(max_length=300)] = ""


class ContactRecord(_Record, tag="contact"):
    """A contact (a customer)."""

    id: Ref
    last_name: Name
    first_name: ShortText = ""
    email: Email | None = None
    secondary_email: Email | None = None
    phone: Phone = ""
    mobile: Phone = ""
    title: ShortText = ""
    description: str = ""
    account: Ref | None = None
    owner: Ref | None = None
    tags: list[Annotated[str, Meta(min_length=1, max_length=100)]] = []
    identities: list[IdentityRecord] = []
    is_spam: bool = False
    created_at: AwareTime | None = None
    updated_at: AwareTime | None = None


class ThreadRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A message on a ticket; ``agent`` or ``contact`` names the author."""

    kind: ThreadKindName
    body: str
    created_at: AwareTime
    agent: Ref | None = None
    contact: Ref | None = None
    channel: Channel | None = None


class StatusChangeRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One entry of a ticket's status history (the first is its status at creation)."""

    to_status: Name
    changed_at: AwareTime
    agent: Ref | None = None


class RatingRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A happiness rating of the ticket by its contact."""

    rating: RatingName
    created_at: AwareTime
    feedback: str = ""
    agent: Ref | None = None


class TimeEntryRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Time an agent logged on the ticket."""

    seconds: Annotated[int, Meta(gt=0, le=10_000_000)]
    logged_at: AwareTime
    agent: Ref | None = None
    billable: bool = False
    billed: bool = False
    description: str = ""


class TicketRecord(_Record, tag="ticket"):
    """A ticket with its whole history."""

    id: Ref
    subject: Annotated[str, Meta(min_length=1, max_length=500)]
    department: Ref
    channel: Channel
    created_at: AwareTime
    number: Annotated[int, Meta(gt=0, le=2_000_000_000)] | None = None
    description: str = ""
    contact: Ref | None = None
    account: Ref | None = None
    assignee: Ref | None = None
    status: Name | None = None
    priority: PriorityName = "medium"
    classification: Annotated[str, Meta(max_length=60)] = ""
    raised_by: RaisedByName = "customer"
    due_at: AwareTime | None = None
    updated_at: AwareTime | None = None
    threads: list[ThreadRecord] = []
    status_history: list[StatusChangeRecord] = []
    ratings: list[RatingRecord] = []
    time_entries: list[TimeEntryRecord] = []


Record = (
    DepartmentRecord | ProfileRecord | AgentRecord | AccountRecord | ContactRecord | TicketRecord
)

#: Record type names in the order the report lists them.
RECORD_TYPES: tuple[str, ...] = ("department", "profile", "agent", "account", "contact", "ticket")


def make_decoder() -> msgspec.json.Decoder[Record]:
    """A decoder of one line into its record (raises ``msgspec.ValidationError`` with a path)."""
    return msgspec.json.Decoder(Record)  # type: ignore[arg-type]
